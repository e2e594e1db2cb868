import Foundation

/// Where the files that ship beside `parley` live: the directory above the executable's own
/// (`dist/parley-<version>-linux-<arch>/` for `bin/parley` in a release bundle), which holds `web/`,
/// `engines/` and, once `scripts/setup.sh --engines-only` has run there, `.venv/`.
public enum BundleDirectory {
    /// The directory above the running executable's directory, with symbolic links resolved.
    static let root: URL? = {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
    }()

    /// `relativePath` under the bundle when it exists there, else `relativePath` under the working
    /// directory when it exists there (a source checkout), else nil.
    public static func locate(_ relativePath: String) -> String? {
        if let root, FileManager.default.fileExists(atPath: root.appendingPathComponent(relativePath).path) {
            return root.appendingPathComponent(relativePath).path
        }
        return FileManager.default.fileExists(atPath: relativePath) ? relativePath : nil
    }
}
