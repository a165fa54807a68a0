import Glibc
import Testing

@testable import KServeMaster

@Suite("The nginx templates built into the binary")
struct BuiltInTemplateTests {
    static func read(_ relative: String) -> String? {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/KServeMasterTests/<file>
        let path = parts.joined(separator: "/") + "/" + relative
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test("equal nginx/kserve.conf.template, kserve-locations.conf and kserve-grpc.conf (run make nginx-embed after editing them)")
    func embeddedMatchesFiles() {
        #expect(BuiltInNginxTemplates.main == Self.read("nginx/kserve.conf.template"))
        #expect(BuiltInNginxTemplates.locations == Self.read("nginx/kserve-locations.conf"))
        #expect(BuiltInNginxTemplates.grpc == Self.read("nginx/kserve-grpc.conf"))
    }
}
