#if canImport(Glibc)
import Glibc
#endif

/// ONNX Runtime's C API, loaded at run time from the shared library `make setup` installs (the
/// `onnxruntime` wheel's `onnxruntime/capi/libonnxruntime.so.*`), for the small models Parley runs
/// in process (Silero VAD).
///
/// No ONNX Runtime package exists in Debian 12 and no wheel on PyPI ships its C header, so the
/// API is reached as ONNX Runtime documents it for any language: `dlsym("OrtGetApiBase")`, then
/// `GetApi(version)` returns the `OrtApi` table of C function pointers, which only ever grows at
/// its end. The positions used here are those of `onnxruntime_c_api.h`, read from the table in the
/// shipped library (ORT 1.28.2 and 1.32.0 agree); a library without the API version asked for
/// is refused by `GetApi` itself. Loading at run time also lets a slim image without the library
/// start (Parley then uses its energy VAD).
// Why this unchecked Sendable conformance is safe: every stored property is a `let` set in
// `init` and never written again. The `OrtApi` table is static data of the library, which stays
// loaded for the life of the process (it is never `dlclose`d). The environment and the CPU memory
// description are created in `init`, only passed to ONNX Runtime afterwards, and ONNX Runtime
// documents `OrtEnv` (and `CreateSession`/`Run` on it) as safe to use from several threads at
// once. No Swift state is mutated after `init`, so there is nothing for two threads to race on.
public final class OnnxRuntime: @unchecked Sendable {
    private let table: UnsafePointer<UnsafeRawPointer?>
    private let environment: OpaquePointer
    private let memoryInfo: OpaquePointer
    /// The library's version, such as `1.32.0`.
    public let version: String

    /// Why the runtime or a model could not be used.
    public struct Failure: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// The `OrtApi` version asked for: ONNX Runtime 1.17 (2024) or later.
    static let apiVersion: UInt32 = 17

    /// Positions in the `OrtApi` table (`onnxruntime_c_api.h`).
    enum Entry: Int {
        case getErrorMessage = 2
        case createEnv = 3
        case createSession = 7
        case run = 9
        case createSessionOptions = 10
        case setSessionExecutionMode = 13
        case setSessionGraphOptimizationLevel = 23
        case setIntraOpNumThreads = 24
        case setInterOpNumThreads = 25
        case createTensorWithDataAsOrtValue = 49
        case getTensorMutableData = 51
        case getTensorShapeElementCount = 64
        case getTensorTypeAndShape = 65
        case createCpuMemoryInfo = 69
        case releaseStatus = 93
        case releaseSession = 95
        case releaseValue = 96
        case releaseTensorTypeAndShapeInfo = 99
        case releaseSessionOptions = 100
    }

    typealias Status = OpaquePointer?
    typealias Release = @convention(c) (OpaquePointer?) -> Void

    /// Loads the library at `path` (the process keeps it loaded).
    public init(libraryPath path: String) throws(Failure) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw Failure(description: "ONNX Runtime could not be loaded from \(path): \(reason)")
        }
        typealias GetApiBase = @convention(c) () -> UnsafePointer<UnsafeRawPointer?>?
        typealias GetApi = @convention(c) (UInt32) -> UnsafePointer<UnsafeRawPointer?>?
        typealias GetVersion = @convention(c) () -> UnsafePointer<CChar>?
        guard let symbol = dlsym(handle, "OrtGetApiBase"),
            let base = unsafeBitCast(symbol, to: GetApiBase.self)(), let getApi = base[0], let getVersion = base[1]
        else {
            throw Failure(description: "\(path) is not ONNX Runtime (no OrtGetApiBase)")
        }
        let version = unsafeBitCast(getVersion, to: GetVersion.self)().map { String(cString: $0) } ?? "?"
        guard let table = unsafeBitCast(getApi, to: GetApi.self)(Self.apiVersion) else {
            throw Failure(description: "ONNX Runtime \(version) at \(path) lacks API version \(Self.apiVersion) (1.17 or later is needed)")
        }
        self.table = table
        self.version = version

        typealias CreateEnv = @convention(c) (Int32, UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?) -> Status
        var environment: OpaquePointer?
        // Logging level 3: errors only.
        try Self.check(table, Self.function(table, .createEnv, as: CreateEnv.self)(3, "parley", &environment), "creating its environment")
        typealias CreateCpuMemoryInfo = @convention(c) (Int32, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Status
        var memoryInfo: OpaquePointer?
        // The arena allocator (1) and default memory (0): plain CPU buffers.
        try Self.check(
            table, Self.function(table, .createCpuMemoryInfo, as: CreateCpuMemoryInfo.self)(1, 0, &memoryInfo), "describing CPU memory")
        guard let environment, let memoryInfo else { throw Failure(description: "ONNX Runtime returned no environment") }
        self.environment = environment
        self.memoryInfo = memoryInfo
    }

    static func function<T>(_ table: UnsafePointer<UnsafeRawPointer?>, _ entry: Entry, as type: T.Type) -> T {
        // Every entry up to the asked-for version is filled; `GetApi` refused older libraries.
        unsafeBitCast(table[entry.rawValue]!, to: type)
    }

    func function<T>(_ entry: Entry, as type: T.Type) -> T {
        Self.function(table, entry, as: type)
    }

    /// Turns a non-null status into a ``Failure`` with ONNX Runtime's message, releasing it.
    static func check(_ table: UnsafePointer<UnsafeRawPointer?>, _ status: Status, _ doing: String) throws(Failure) {
        guard let status else { return }
        typealias GetErrorMessage = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
        let message = function(table, .getErrorMessage, as: GetErrorMessage.self)(status).map { String(cString: $0) } ?? "unknown error"
        function(table, .releaseStatus, as: Release.self)(status)
        throw Failure(description: "ONNX Runtime failed \(doing): \(message)")
    }

    func check(_ status: Status, _ doing: String) throws(Failure) {
        try Self.check(table, status, doing)
    }

    /// Loads the model at `path` for single-threaded, sequential runs (one session per model
    /// serves every Parley session: runs are thread-safe).
    public func model(at path: String) throws(Failure) -> OnnxModel {
        typealias CreateOptions = @convention(c) (UnsafeMutablePointer<OpaquePointer?>?) -> Status
        typealias SetInt = @convention(c) (OpaquePointer?, Int32) -> Status
        var options: OpaquePointer?
        try check(function(.createSessionOptions, as: CreateOptions.self)(&options), "creating session options")
        defer { function(.releaseSessionOptions, as: Release.self)(options) }
        // One thread per run: sessions run side by side, each on the thread that asks.
        try check(function(.setIntraOpNumThreads, as: SetInt.self)(options, 1), "setting its threads")
        try check(function(.setInterOpNumThreads, as: SetInt.self)(options, 1), "setting its threads")
        try check(function(.setSessionExecutionMode, as: SetInt.self)(options, 0), "setting sequential execution")
        // ORT_ENABLE_ALL.
        try check(function(.setSessionGraphOptimizationLevel, as: SetInt.self)(options, 99), "setting its optimisations")
        typealias CreateSession =
            @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?)
            -> Status
        var session: OpaquePointer?
        try check(function(.createSession, as: CreateSession.self)(environment, path, options, &session), "loading \(path)")
        guard let session else { throw Failure(description: "ONNX Runtime returned no session for \(path)") }
        return OnnxModel(runtime: self, session: session, path: path)
    }

    /// Wraps `buffer` (kept alive by the caller until the value is released) as a tensor.
    func tensor(_ buffer: UnsafeMutableRawBufferPointer, shape: [Int64], elementType: Int32) throws(Failure) -> OpaquePointer {
        typealias CreateTensor =
            @convention(c) (
                OpaquePointer?, UnsafeMutableRawPointer?, Int, UnsafePointer<Int64>?, Int, Int32, UnsafeMutablePointer<OpaquePointer?>?
            ) -> Status
        var value: OpaquePointer?
        let create = function(.createTensorWithDataAsOrtValue, as: CreateTensor.self)
        let status = shape.withUnsafeBufferPointer { dimensions in
            create(memoryInfo, buffer.baseAddress, buffer.count, dimensions.baseAddress, dimensions.count, elementType, &value)
        }
        try check(status, "making an input tensor")
        guard let value else { throw Failure(description: "ONNX Runtime returned no tensor") }
        return value
    }
}

/// An input of ``OnnxModel/run(_:outputs:)``.
public enum OnnxTensor: Sendable {
    case float([Float], shape: [Int64])
    case int64([Int64], shape: [Int64])
}

/// One loaded model; ``run(_:outputs:)`` may be called from several threads at once.
// Why this unchecked Sendable conformance is safe: its stored properties are `let`s set in
// `init` (the runtime, itself Sendable; the session pointer; the path). `run` keeps every buffer
// and tensor it makes local to the call, and ONNX Runtime documents `Run` on one `OrtSession` as
// safe from several threads at once. The session is released only in `deinit`, when no other
// reference, and so no run in flight, can exist.
public final class OnnxModel: @unchecked Sendable {
    private let runtime: OnnxRuntime
    private let session: OpaquePointer
    /// The model file.
    public let path: String

    init(runtime: OnnxRuntime, session: OpaquePointer, path: String) {
        self.runtime = runtime
        self.session = session
        self.path = path
    }

    deinit {
        runtime.function(.releaseSession, as: OnnxRuntime.Release.self)(session)
    }

    /// Runs the model on `inputs` (by input name) and returns the float outputs named `outputs`,
    /// each flattened.
    public func run(_ inputs: [(name: String, tensor: OnnxTensor)], outputs: [String]) throws(OnnxRuntime.Failure) -> [[Float]] {
        var buffers: [UnsafeMutableRawBufferPointer] = []
        var values: [OpaquePointer?] = []
        var outputValues = [OpaquePointer?](repeating: nil, count: outputs.count)
        let release = runtime.function(.releaseValue, as: OnnxRuntime.Release.self)
        defer {
            for value in values + outputValues { release(value) }
            for buffer in buffers { buffer.deallocate() }
        }
        for input in inputs {
            let (buffer, shape, type): (UnsafeMutableRawBufferPointer, [Int64], Int32)
            switch input.tensor {
            case .float(let data, let dimensions):
                buffer = .allocate(byteCount: max(1, data.count * MemoryLayout<Float>.stride), alignment: 64)
                data.withUnsafeBytes { buffer.copyMemory(from: $0) }
                (shape, type) = (dimensions, 1)  // ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
            case .int64(let data, let dimensions):
                buffer = .allocate(byteCount: max(1, data.count * MemoryLayout<Int64>.stride), alignment: 64)
                data.withUnsafeBytes { buffer.copyMemory(from: $0) }
                (shape, type) = (dimensions, 7)  // ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64
            }
            buffers.append(buffer)
            values.append(try runtime.tensor(buffer, shape: shape, elementType: type))
        }
        typealias Run =
            @convention(c) (
                OpaquePointer?, OpaquePointer?, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<OpaquePointer?>?, Int,
                UnsafePointer<UnsafePointer<CChar>?>?, Int, UnsafeMutablePointer<OpaquePointer?>?
            ) -> OnnxRuntime.Status
        let inputNames = inputs.map { strdup($0.name) }
        let outputNames = outputs.map { strdup($0) }
        defer { for name in inputNames + outputNames { free(name) } }
        let status = inputNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { inNames in
            outputNames.map { UnsafePointer($0) }.withUnsafeBufferPointer { outNames in
                values.withUnsafeBufferPointer { inValues in
                    runtime.function(.run, as: Run.self)(
                        session, nil, inNames.baseAddress, inValues.baseAddress, inputs.count, outNames.baseAddress, outputs.count,
                        &outputValues)
                }
            }
        }
        try runtime.check(status, "running \(path)")
        return try outputValues.map { value throws(OnnxRuntime.Failure) in try floats(of: value) }
    }

    private func floats(of value: OpaquePointer?) throws(OnnxRuntime.Failure) -> [Float] {
        typealias GetShape = @convention(c) (OpaquePointer?, UnsafeMutablePointer<OpaquePointer?>?) -> OnnxRuntime.Status
        typealias GetCount = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int>?) -> OnnxRuntime.Status
        typealias GetData = @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> OnnxRuntime.Status
        var info: OpaquePointer?
        try runtime.check(runtime.function(.getTensorTypeAndShape, as: GetShape.self)(value, &info), "reading an output's shape")
        defer { runtime.function(.releaseTensorTypeAndShapeInfo, as: OnnxRuntime.Release.self)(info) }
        var count = 0
        try runtime.check(runtime.function(.getTensorShapeElementCount, as: GetCount.self)(info, &count), "reading an output's size")
        var data: UnsafeMutableRawPointer?
        try runtime.check(runtime.function(.getTensorMutableData, as: GetData.self)(value, &data), "reading an output")
        guard let data else { return [] }
        return Array(UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: count))
    }
}
