import KServeConfig
import Testing

/// KServe's `access_log_format` atoms, parsed and rendered.
struct AccessLogFormatTests {
    static let entry = AccessLogEntry(
        remoteAddress: "10.1.2.3", method: "POST", path: "/v2/models/m/infer", query: "a=1", protocolName: "HTTP/1.1",
        status: "200", bodyBytes: 321, duration: 0.0123456, startTime: 0)

    static func render(_ text: String) throws -> String {
        let format = try AccessLogFormat(parsing: text)
        return format.render(
            entry, requestHeader: { ["user-agent": "curl/8", "x-request-id": "r-1"][$0] },
            responseHeader: { ["content-type": "application/json"][$0] })
    }

    @Test("Every atom renders its value")
    func everyAtom() throws {
        #expect(try Self.render("%(h)s|%(r)s|%(s)s|%(b)s|%(B)s|%(m)s|%(U)s|%(q)s|%(H)s")
            == "10.1.2.3|POST /v2/models/m/infer?a=1 HTTP/1.1|200|321|321|POST|/v2/models/m/infer|a=1|HTTP/1.1")
        #expect(try Self.render("%(a)s|%(f)s|%(L)s|%(M)s|%(D)s|%(T)s|%(l)s|%(u)s")
            == "curl/8|-|0.012346|12|12346|0|-|-")
        #expect(try Self.render("%({X-Request-Id}i)s %({Content-Type}o)s %({nope}i)s 100%%")
            == "r-1 application/json - 100%")
        let time = try Self.render("%(t)s")
        #expect(time.hasPrefix("[") && time.hasSuffix("]") && (time.contains("/1970:") || time.contains("/1969:")), "\(time)")
    }

    @Test("An empty body is '-' for %(b)s and 0 for %(B)s")
    func emptyBody() throws {
        var e = Self.entry
        e.bodyBytes = 0
        let format = try AccessLogFormat(parsing: "%(b)s %(B)s")
        #expect(format.render(e, requestHeader: { _ in nil }, responseHeader: { _ in nil }) == "- 0")
    }

    @Test("An unknown atom is refused, naming it", arguments: [
        ("%(h)s %(zz)s", "%(zz)s"), ("%(h)d", "%(h)d"), ("100% done", "% do"), ("%(h", "%(h"), ("%({X-A}x)s", "%({X-A}x)s"),
    ])
    func unknownAtom(text: String, atom: String) {
        #expect(throws: AccessLogFormatError.unknownAtom(atom)) { try AccessLogFormat(parsing: text) }
    }

    @Test("The config key and the flag both take it; the key's error names the key")
    func configKey() throws {
        let config = try ServerConfig.parse(toml: "[server]\naccess_log_format = \"%(h)s %(s)s\"\n", path: "/tmp/k.conf")
        #expect(config.server.accessLogFormat?.text == "%(h)s %(s)s")
        let error = #expect(throws: ConfigError.self) {
            try ServerConfig.parse(toml: "[server]\naccess_log_format = \"%(Q)s\"\n", path: "/tmp/k.conf")
        }
        #expect(error?.key == "[server] access_log_format")
        #expect(error?.description.contains("%(Q)s") == true)
    }
}
