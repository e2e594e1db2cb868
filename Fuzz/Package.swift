// swift-tools-version: 6.2
import PackageDescription

// The libFuzzer executables, one per target of ParleyFuzzing; scripts/fuzz.sh builds them with
//   swift build --package-path Fuzz --scratch-path .build-fuzz -c release --sanitize=fuzzer
// and runs them on the seeds in Corpus/.
//
// Only the decoders are compiled here, with the harness, in one module: ParleyFuzzing below
// holds the real harness (Harness/, a symlink to ../Sources/ParleyFuzzing) and the decoder files
// of ParleyProviders and ParleyServer (Decoders/, symlinks into ../Sources), which need nothing but
// ParleyCore. Depending on the real modules would build NIO, AsyncHTTPClient, BoringSSL and
// Hummingbird with fuzzer instrumentation too: minutes more on 2 cores (BENCHMARKS.md). A decoder
// file that gains a dependency on those fails this build; keep them apart. The harness imports
// ParleyProviders and ParleyServer only `#if canImport`, which holds in the main package only.

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let fuzzTargets = ["json", "client-message", "server-event", "wav", "twilio", "deepgram", "flux", "elevenlabs", "sse"]

let package = Package(
    name: "parley-fuzz",
    platforms: [.macOS(.v15)],
    // Named, because a path dependency is otherwise known by its directory name (the clone's).
    dependencies: [
        .package(name: "parley", path: ".."),
        // Twilio's signature check (a decoder here) uses swift-crypto's HMAC-SHA1.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // ElevenLabs' messages (a decoder here) decode their base64 audio with ExtrasBase64.
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
    ],
    targets: [
        .target(
            name: "ParleyFuzzing",
            dependencies: [
                .product(name: "ParleyCore", package: "parley"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            swiftSettings: swiftSettings
        )
    ]
        + fuzzTargets.map { name in
            // -parse-as-library: libFuzzer supplies main() and calls LLVMFuzzerTestOneInput.
            .executableTarget(
                name: "fuzz-\(name)",
                dependencies: ["ParleyFuzzing"],
                swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]
            )
        }
)
