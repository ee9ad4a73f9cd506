import KubeCore

extension Resolver {
    /// The operator of a label selector requirement as written in the object (`In`, `NotIn`, …).
    static func labelOperatorName(_ r: LabelSelectorRequirement) -> String { r.operator.rawValue }
}
