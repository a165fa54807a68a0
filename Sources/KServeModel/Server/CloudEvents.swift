import KServeProtocol
import Glibc

/// CloudEvents reply settings from the environment, as KServe reads them: `CE_SOURCE`, `CE_TYPE`, `CE_MERGE`.
struct CloudEventSettings: Sendable {
    var source: String?
    var type: String
    var merge: Bool

    static func fromEnvironment() -> CloudEventSettings {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        return CloudEventSettings(
            source: env("CE_SOURCE"), type: env("CE_TYPE") ?? "io.kserve.inference.response",
            merge: (env("CE_MERGE") ?? "false").lowercased() == "true")
    }

    private func attributes(base: [(String, JSONValue)], model: String) -> [(String, JSONValue)] {
        var attrs: [(String, JSONValue)] = [("specversion", .string("1.0")), ("id", .string(uuid4()))]
        if merge {
            for (k, v) in base where !["id", "time", "specversion", "data", "datacontenttype", "type", "source"].contains(k) {
                attrs.append((k, v))
            }
        }
        attrs.append(("source", .string(source ?? "io.kserve.inference.\(model)")))
        attrs.append(("type", .string(type)))
        attrs.append(("time", .string(cloudEventTime())))
        return attrs
    }

    /// A binary-mode reply: `ce-*` headers and the result as (spaced) JSON.
    func reply(to event: CloudEventRequest, result: Prediction, model: String, plain: HTTPResponse) throws -> HTTPResponse {
        let base = event.attributes.map { ($0.0, JSONValue.string($0.1)) }
        var headers: [(String, String)] = []
        for (k, v) in attributes(base: base, model: model) {
            if case .string(let s) = v { headers.append(("ce-" + k, s)) }
        }
        switch result {
        case .json(let value):
            headers.append(("Content-Type", "application/json"))
            return HTTPResponse(status: 200, headers: headers, body: .bytes(value.serialized(spaced: true)))
        default:
            var response = plain
            response.headers += headers
            return response
        }
    }

    /// A structured-mode reply: one `application/cloudevents+json` document with the result as `data`.
    func structuredReply(request: JSONValue, result: Prediction, model: String) throws -> HTTPResponse {
        guard case .json(let value) = result else {
            throw KServeError.inferenceError("a structured CloudEvent reply needs a JSON result")
        }
        var base: [(String, JSONValue)] = []
        if case .object(let o) = request { base = o.members.map { ($0.key, $0.value) } }
        var members = attributes(base: base, model: model)
        members.append(("data", value))
        return HTTPResponse(
            status: 200, headers: [("Content-Type", "application/cloudevents+json")],
            body: .bytes(JSONValue.object(JSONObject(members.map { (key: $0.0, value: $0.1) })).serialized(spaced: true)))
    }
}

/// A binary-mode CloudEvent request: all four of `ce-specversion`, `ce-source`, `ce-type`, `ce-id`.
struct CloudEventRequest: Sendable {
    var attributes: [(String, String)]
    var payload: Payload

    static func decode(_ request: HTTPRequest) throws -> CloudEventRequest? {
        let required = ["ce-specversion", "ce-source", "ce-type", "ce-id"]
        guard required.allSatisfy({ request.headers[$0] != nil }) else { return nil }
        var attributes: [(String, String)] = []
        for (k, v) in request.headers.sorted(by: { $0.key < $1.key }) where k.hasPrefix("ce-") {
            attributes.append((String(k.dropFirst(3)), v))
        }
        let media = request.mediaType
        if media == nil || media == "application/json" || media == "application/cloudevents+json" {
            do {
                return CloudEventRequest(attributes: attributes, payload: .json(try JSONValue.parse(request.body[...])))
            } catch let e as KServeError {
                throw KServeError.invalidInput("Failed to decode or parse binary json cloudevent: \(e.message)")
            }
        }
        return CloudEventRequest(attributes: attributes, payload: .bytes(request.body, contentType: request.headers["content-type"]))
    }
}

/// Current UTC time as `2026-11-25T22:04:17.555786+00:00`.
func cloudEventTime() -> String {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = ts.tv_sec
    var tm = tm()
    gmtime_r(&t, &tm)
    func pad(_ v: Int32, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }
    return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(ts.tv_nsec / 1000), 6))+00:00"
}
