@_exported import KServeConfig
@_exported import KServeModel
@_exported import KServeProtocol
