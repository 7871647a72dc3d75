/// Descent's release, as `--version` prints it and models record it.
public enum DescentVersion {
    public static let text = "0.3.0"
}
