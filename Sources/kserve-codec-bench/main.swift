import Foundation
import KServeProtocol
print("bench")
