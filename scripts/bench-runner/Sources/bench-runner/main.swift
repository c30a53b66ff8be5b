// bench-runner MODULE [ARGS…]: runs a WASI command with `/` preopened, as runwasm's guest runs.
// Engine settings as runwasm's for a module it has validated before (lazy translation, the default
// threading model and stack size); BENCH_COMPILATION=eager|lazy, BENCH_THREADING=direct|token and
// BENCH_STACK=<bytes> change them, to measure the alternatives.
import Glibc
import WasmKit
import WasmKitWASI

let args = Array(CommandLine.arguments.dropFirst())
guard let path = args.first, let file = fopen(path, "rb") else {
    fputs("usage: bench-runner MODULE [ARGS...]\n", stderr)
    exit(2)
}
var bytes: [UInt8] = []
var chunk = [UInt8](repeating: 0, count: 1 << 16)
while true {
    let n = fread(&chunk, 1, chunk.count, file)
    if n == 0 { break }
    bytes += chunk[0..<n]
}
fclose(file)
do {
    let module = try parseWasm(bytes: bytes)
    func setting(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
    let configuration = EngineConfiguration(
        threadingModel: setting("BENCH_THREADING").map { $0 == "token" ? .token : .direct },
        compilationMode: setting("BENCH_COMPILATION") == "eager" ? .eager : .lazy,
        stackSize: setting("BENCH_STACK").flatMap { Int($0) })
    let store = Store(engine: Engine(configuration: configuration))
    let wasi = try WASIBridgeToHost(args: args, environment: [:], preopens: [.init(guestPath: "/", hostPath: "/")])
    var imports = Imports()
    wasi.link(to: &imports, store: store)
    let instance = try module.instantiate(store: store, imports: imports)
    let code = try wasi.start(instance)
    try wasi.close()
    exit(Int32(code))
} catch {
    fputs("bench-runner: \(error)\n", stderr)
    exit(134)
}
