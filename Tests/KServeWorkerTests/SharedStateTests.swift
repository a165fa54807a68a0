import Glibc
import KServeModel
@testable import KServeWorker
import Testing

/// The shared-memory metrics and model states that make the pool answer as one server.
struct SharedStateTests {
    static func tempDirectory() -> String {
        var template = Array("/tmp/kserve-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: p!)
    }

    @Test func countersFromSeveralWorkersAreSummed() throws {
        let dir = Self.tempDirectory()
        let a = try #require(SharedCounterStorage(directory: dir, name: "1001"))
        let b = try #require(SharedCounterStorage(directory: dir, name: "1002"))
        let ka = try #require(a.slot(for: #"x_total{model_name="m"}"#))
        let kb = try #require(b.slot(for: #"x_total{model_name="m"}"#))
        a.add(3, to: ka)
        b.add(4, to: kb)
        b.add(0.5, to: try #require(b.slot(for: "y_sum")))
        let totals = a.aggregate()
        #expect(totals[#"x_total{model_name="m"}"#] == 7)
        #expect(totals["y_sum"] == 0.5)
    }

    @Test func histogramsRenderedFromSharedCounters() throws {
        let dir = Self.tempDirectory()
        let a = try #require(SharedCounterStorage(directory: dir, name: "1"))
        let b = try #require(SharedCounterStorage(directory: dir, name: "2"))
        var t = PhaseTimings()
        t.predict = 0.02
        ServerMetrics(storage: a).record(model: "echo", timings: t, verb: .predict, requestID: nil)
        ServerMetrics(storage: b).record(model: "echo", timings: t, verb: .predict, requestID: nil)
        let text = ServerMetrics(storage: a).renderPrometheus()
        #expect(text.contains(#"request_predict_seconds_count{model_name="echo"} 2.0"#))
        #expect(text.contains(#"request_predict_seconds_bucket{model_name="echo",le="0.01"} 0.0"#))
        #expect(text.contains(#"request_predict_seconds_bucket{model_name="echo",le="0.025"} 2.0"#))
    }

    @Test func keysTooLongForASlotAreRefused() throws {
        let a = try #require(SharedCounterStorage(directory: Self.tempDirectory(), name: "1"))
        #expect(a.slot(for: String(repeating: "k", count: 300)) == nil)
    }

    @Test func publishedModelStatesAreSeenByOthers() throws {
        let dir = Self.tempDirectory()
        let writer = try #require(SharedModelStates(directory: dir))
        let reader = try #require(SharedModelStates(directory: dir))
        let before = reader.generation
        writer.publish(model: "echo", loaded: false)
        writer.publish(model: "other", loaded: true)
        #expect(reader.generation == before + 2)
        #expect(reader.desiredStates() == ["echo": false, "other": true])
    }
}
