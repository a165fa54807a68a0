import Glibc

/// A TextOutputStream on standard error (for the one message printed before logging is set up).
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { buf in _ = Glibc.write(2, buf.baseAddress, buf.count) }
    }
}
