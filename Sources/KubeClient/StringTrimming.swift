extension StringProtocol {
    /// The text without leading and trailing white space and line breaks (what
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` did, without corelibs Foundation).
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }) else { return "" }
        guard let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}
