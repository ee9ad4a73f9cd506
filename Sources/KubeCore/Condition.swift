/// `metav1.Condition`: the standard shape of status conditions.
public struct Condition: Codable, Sendable, Hashable {
    public var type: String
    /// "True", "False" or "Unknown".
    public var status: String
    public var observedGeneration: Int64?
    public var lastTransitionTime: String
    public var reason: String
    public var message: String

    public init(type: String, status: String, observedGeneration: Int64? = nil, lastTransitionTime: String, reason: String, message: String) {
        self.type = type
        self.status = status
        self.observedGeneration = observedGeneration
        self.lastTransitionTime = lastTransitionTime
        self.reason = reason
        self.message = message
    }
}

extension Array where Element == Condition {
    /// Sets `condition`, keeping the existing `lastTransitionTime` when the status did not
    /// change (the apimachinery `meta.SetStatusCondition` rule). Returns whether anything changed.
    @discardableResult
    public mutating func set(_ condition: Condition) -> Bool {
        guard let i = firstIndex(where: { $0.type == condition.type }) else {
            append(condition)
            return true
        }
        var c = condition
        if self[i].status == c.status { c.lastTransitionTime = self[i].lastTransitionTime }
        if self[i] == c { return false }
        self[i] = c
        return true
    }

    public subscript(type type: String) -> Condition? { first { $0.type == type } }
}
