/// Parsers shared by the config file and the command line.
enum ValueParsing {
    /// nginx-style size: `"16m"`, `"512k"`, `"1g"`, `"100"` (bytes), case-insensitive; `nil` if malformed or
    /// overflowing.
    static func size(_ text: String) -> Int? {
        var digits = Substring(text)
        var multiplier = 1
        switch text.last {
        case "k", "K": multiplier = 1 << 10
        case "m", "M": multiplier = 1 << 20
        case "g", "G": multiplier = 1 << 30
        default: break
        }
        if multiplier != 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(digits) else {
            return nil
        }
        let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// Python's `distutils.util.strtobool` (KServe's boolean flags): y, yes, t, true, on, 1 / n, no, f, false,
    /// off, 0, case-insensitive.
    static func strtobool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "y", "yes", "t", "true", "on", "1": return true
        case "n", "no", "f", "false", "off", "0": return false
        default: return nil
        }
    }

    /// A decimal integer (optional sign), or `nil`.
    static func integer(_ text: String) -> Int? {
        Int(text.trimmingASCIIWhitespace())
    }

    /// The swift-log level names accepted by `log_level`.
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
}

extension String {
    /// The string without leading and trailing ASCII spaces and tabs.
    func trimmingASCIIWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
