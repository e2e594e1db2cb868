/// Parley's release version: `parley --version`, `/health` and the name of the `make dist` bundle.
public enum ParleyVersion {
    /// Semantic version of this build.
    public static let current = "0.1.0"
}
