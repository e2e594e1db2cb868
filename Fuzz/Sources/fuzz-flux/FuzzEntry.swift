import ParleyFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.flux.fuzz(data, size)
}
