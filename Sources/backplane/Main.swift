import BackplaneCLI

@main
enum Main {
    static func main() async {
        await Backplane.runMain()
    }
}
