import Testing

@testable import KServeWorker

@Suite("PoolMembership: the worker's side of the process manager")
struct PoolMembershipTests {
    @Test(
        "The slow log names the model of KServe routes",
        arguments: [
            ("/v2/models/echo/infer", "echo"), ("/v2/models/sleep/versions/1/infer", "sleep"),
            ("/v1/models/iris:predict", "iris"), ("/v1/models/iris", "iris"), ("/v2/models/m", "m"),
        ])
    func modelName(path: String, model: String) {
        #expect(PoolMembership.modelName(inPath: path) == model)
    }

    @Test("Other paths have no model", arguments: ["/", "/metrics", "/status", "/v2", "/v2/models", "/v3/models/x"])
    func noModel(path: String) {
        #expect(PoolMembership.modelName(inPath: path) == nil)
    }
}
