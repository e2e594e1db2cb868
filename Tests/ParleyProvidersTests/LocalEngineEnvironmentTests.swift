import Testing

@testable import ParleyProviders

@Suite("Local engine processes")
struct LocalEngineEnvironmentTests {
    @Test("engines inherit only what a process needs, never settings meant for Parley (PORT, HOST, MODEL, keys)")
    func environment() {
        let inherited = LocalEngine.engineEnvironment([
            "PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
            "PORT": "8080", "HOST": "0.0.0.0", "MODEL": "x", "API_KEY": "secret", "GROQ_API_KEY": "gsk", "port": "1",
        ])
        #expect(inherited == ["PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp"])
    }
}
