#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The Swagger UI files that `GET /docs` serves (`enable_docs_url`): the built distribution of the PyPI package
/// `swagger-ui-bundle` (Apache 2.0), which `make deps` fetches (pinned, sha256-checked) into `.build/swagger-ui/`
/// and the container image installs in `/usr/local/share/kserve-swift/swagger-ui/`.
public enum SwaggerUIAssets {
    /// The files the page loads, with their content types.
    public static let files: [(name: String, contentType: String)] = [
        ("swagger-ui-bundle.js", "application/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
        ("favicon-16x16.png", "image/png"),
        ("oauth2-redirect.html", "text/html; charset=utf-8"),
    ]

    /// `KSERVE_SWAGGER_UI_DIR`: a folder to use instead of searching.
    public static let environmentVariable = "KSERVE_SWAGGER_UI_DIR"

    /// The folders searched, in order: `[http] docs_assets`, else `KSERVE_SWAGGER_UI_DIR`, else `swagger-ui/`
    /// beside the executable, `../swagger-ui` and `../../swagger-ui` (the build tree's `.build/swagger-ui` from
    /// `.build/<triple>/debug`), `../share/kserve-swift/swagger-ui` (an install prefix such as `/usr/local`),
    /// this source tree's `.build/swagger-ui`, `/usr/share/kserve-swift/swagger-ui`.
    public static func candidateFolders(config: ServerConfig) -> [String] {
        if !config.http.docsAssets.isEmpty {
            return [PathUtilities.resolve(config.http.docsAssets, against: config.baseDirectory)]
        }
        if let env = getenv(environmentVariable), env.pointee != 0 { return [String(cString: env)] }
        var folders: [String] = []
        if let exe = ExecutablePath.directory {
            folders += [exe + "/swagger-ui", exe + "/../swagger-ui", exe + "/../../swagger-ui", exe + "/../share/kserve-swift/swagger-ui"]
        }
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Sources/KServeConfig/<file>
        folders.append(parts.joined(separator: "/") + "/.build/swagger-ui")
        folders.append("/usr/share/kserve-swift/swagger-ui")
        var seen = Set<String>()
        return folders.map(PathUtilities.normalize).filter { seen.insert($0).inserted }
    }

    /// The first candidate folder that holds every file.
    /// - Throws: ``ConfigError`` (key `[http] enable_docs_url`) listing the folders searched and how to get the files.
    public static func locate(config: ServerConfig) throws -> String {
        let folders = candidateFolders(config: config)
        for folder in folders where files.allSatisfy({ access(folder + "/" + $0.name, R_OK) == 0 }) {
            return folder
        }
        throw ConfigError(
            file: config.configFile ?? "command line", key: "[http] enable_docs_url",
            reason: "the Swagger UI files (\(files.map(\.name).joined(separator: ", "))) are not in any of: "
                + folders.joined(separator: ", ")
                + "; run `make deps` (it fetches the pinned swagger-ui-bundle into .build/swagger-ui), or set [http] docs_assets")
    }

    /// Reads every file of the folder ``locate(config:)`` finds.
    /// - Returns: the files by name, with their content types.
    /// - Throws: ``ConfigError`` when they cannot be found or read.
    public static func load(config: ServerConfig) throws -> [String: (contentType: String, bytes: [UInt8])] {
        let folder = try locate(config: config)
        var out: [String: (contentType: String, bytes: [UInt8])] = [:]
        for file in files {
            do {
                out[file.name] = (file.contentType, try PathUtilities.readFile(folder + "/" + file.name))
            } catch {
                throw ConfigError(file: folder + "/" + file.name, key: "[http] enable_docs_url", reason: "cannot read: \(error.text)")
            }
        }
        return out
    }

}
