/// Samples read back from a Prometheus text exposition (what `/metrics` serves), for tests that
/// check a metric's value: `sampleValue(registry.emitToString(), "x_total", labels: ["k": "v"])`.
public func sampleValue(_ exposition: String, _ name: String, labels: [String: String] = [:]) -> Double? {
    for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
        guard let sample = PrometheusSample(line), sample.name == name, sample.labels == labels else { continue }
        return sample.value
    }
    return nil
}

/// One line of the text format: `name{a="x",b="y"} value`.
struct PrometheusSample {
    var name: String
    var labels: [String: String] = [:]
    var value: Double

    init?(_ line: Substring) {
        guard let space = line.lastIndex(of: " ") else { return nil }
        let text = line[line.startIndex..<space]
        let valueText = line[line.index(after: space)...]
        switch valueText {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let number = Double(valueText) else { return nil }
            value = number
        }
        guard let open = text.firstIndex(of: "{") else {
            name = String(text)
            return
        }
        name = String(text[..<open])
        // Label values are quoted, with \\, \" and \n escaped.
        var rest = text[text.index(after: open)...]
        while let equals = rest.firstIndex(of: "=") {
            let key = String(rest[..<equals].drop { $0 == "," })
            rest = rest[rest.index(after: equals)...]
            guard rest.first == "\"" else { return nil }
            rest = rest.dropFirst()
            var labelValue = ""
            var escaped = false
            while let c = rest.first {
                rest = rest.dropFirst()
                if escaped {
                    labelValue.append(c == "n" ? "\n" : c)
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" {
                    break
                } else {
                    labelValue.append(c)
                }
            }
            labels[key] = labelValue
        }
    }
}
