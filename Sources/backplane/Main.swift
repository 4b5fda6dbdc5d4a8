import ArgumentParser
import BackplaneCLI

@main
struct Main: AsyncMainProtocol {
    typealias Command = Backplane
}
