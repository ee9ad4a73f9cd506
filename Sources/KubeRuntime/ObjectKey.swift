import KubeCore

/// The cache and queue key of an object: its namespace (nil for cluster-scoped objects) and name.
/// Prints as `namespace/name` or `name`, like client-go's `MetaNamespaceKeyFunc`.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The namespace, nil (or empty) for cluster-scoped objects.
    public var namespace: String?
    /// The object's name.
    public var name: String

    /// Creates a key.
    public init(namespace: String? = nil, name: String) {
        self.namespace = (namespace?.isEmpty ?? true) ? nil : namespace
        self.name = name
    }

    /// The key of `object` (its `metadata.namespace` and `metadata.name`).
    public init(_ object: some KubernetesObject) {
        self.init(namespace: object.metadata.namespace, name: object.metadata.name ?? "")
    }

    /// Parses `namespace/name` or `name`.
    public init(parsing text: String) {
        if let slash = text.firstIndex(of: "/") {
            self.init(namespace: String(text[..<slash]), name: String(text[text.index(after: slash)...]))
        } else {
            self.init(name: text)
        }
    }

    /// `namespace/name` or `name`.
    public var description: String {
        if let namespace { return "\(namespace)/\(name)" }
        return name
    }

    /// Orders by namespace, then name.
    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool {
        (lhs.namespace ?? "", lhs.name) < (rhs.namespace ?? "", rhs.name)
    }
}
