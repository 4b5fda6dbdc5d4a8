import ArgumentParser
import BackplaneCLI
import Foundation

@main
struct Main {
    static func main() async {
        nonisolated(unsafe) let out = stdout  // read once at start, before any other thread runs
        setvbuf(out, nil, _IOLBF, 0)  // line by line, also into pipes and log files
        await Backplane.main()
    }
}
