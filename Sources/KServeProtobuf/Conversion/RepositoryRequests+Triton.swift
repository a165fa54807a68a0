#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

extension Inference_RepositoryModelLoadRequest {
    /// The model to load, accepting both request layouts: KServe's (`model_name` = 1) and Triton's
    /// (`repository_name` = 1, `model_name` = 2, as tritonclient's `load_model` sends it). When field 2 is set it
    /// is the model name; otherwise field 1 is.
    public var requestedModelName: String {
        tritonModelName(unknownFields.data) ?? modelName
    }
}

extension Inference_RepositoryModelUnloadRequest {
    /// The model to unload, accepting both KServe's and Triton's request layouts (see
    /// ``Inference_RepositoryModelLoadRequest/requestedModelName``).
    public var requestedModelName: String {
        tritonModelName(unknownFields.data) ?? modelName
    }
}

/// Field 2 (Triton's `model_name`) from a repository request's unknown fields, when set and valid UTF-8.
private func tritonModelName(_ unknown: Data) -> String? {
    guard !unknown.isEmpty, case .lengthDelimited(let bytes)? = UnknownFieldScanner(unknown).last(field: 2),
          !bytes.isEmpty
    else { return nil }
    return String(validating: bytes, as: UTF8.self)
}
