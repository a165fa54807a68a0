#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One node of the flattened LightGBM forest; children are node indices into the pool. Leaves are nodes too
/// (`decisionType` has ``leafFlag``, `threshold` is the leaf value, both children are the leaf itself), so a walk
/// of a fixed number of levels ends on the leaf. For a categorical split the bit pattern of `threshold` indexes
/// the forest's category bitsets.
struct LGBNode: Sendable {
    var threshold: Double
    var feature: Int32
    var left: Int32
    var right: Int32
    var decisionType: UInt8

    static let leafFlag: UInt8 = 0x80
}

/// A LightGBM text model (`Booster.save_model("model.txt")`, format v3 or v4) with a predictor that returns bit
/// for bit what `Booster.predict` returns.
///
/// Exactness: values are Double throughout; a numerical split goes left iff `x <= threshold`, after the node's
/// missing-value rule (None: NaN is 0; Zero: |x| <= 1e-35 takes the default side; NaN: NaN takes the default side);
/// categorical splits send NaN and negative categories right and categories in the bitset left; inputs with
/// |x| <= 1e-35 become 0 as in LightGBM's C API; raw scores add trees in iteration order; transforms use glibc `exp`.
/// Random-forest models (`average_output`) divide predictions, not raw scores, by the number of iterations.
/// Linear trees (`linear_tree=true`) are supported.
///
/// ```swift
/// let booster = try LightGBMBooster(contentsOf: "model.txt")
/// let p = try booster.predict(rows: [[5.1, 3.5, 1.4, 0.2]])
/// ```
public struct LightGBMBooster: Sendable {
    /// How raw scores become predictions.
    public enum Transform: Sendable, Hashable {
        case identity
        /// `1 / (1 + exp(-sigmoid * x))` per output (binary, multiclassova).
        case sigmoid(Double)
        /// Max-subtracted softmax over the classes.
        case softmax
        /// `1 / (1 + exp(-x))`.
        case crossEntropy
        /// `log1p(exp(x))`.
        case crossEntropyLambda
        /// `exp(x)` (poisson, gamma, tweedie).
        case exp
        /// `sign(x) * x * x` (regression with `reg_sqrt`).
        case square
    }

    /// The `objective=` line (`binary sigmoid:1`, `multiclass num_class:3`, ...), or empty when absent.
    public let objective: String
    /// The transform of ``objective``.
    public let transform: Transform
    /// Number of input features each row must have (`max_feature_idx + 1`).
    public let numFeatures: Int
    /// Trees per iteration (classes for multiclass, else 1): the width of a prediction row.
    public let numTreePerIteration: Int
    /// Feature names from the model (`feature_names=`).
    public let featureNames: [String]
    /// Whether predictions average over iterations (random forest).
    public let averageOutput: Bool
    /// The format version line (`v3`, `v4`).
    public let version: String

    /// Every inner node of every tree, then every leaf (leaf `i` of the forest, in `leafValues` order, is node
    /// `firstLeafNode + i`).
    let nodes: [LGBNode]
    let firstLeafNode: Int32
    let leafValues: [Double]
    /// Per tree: the root node.
    let treeRoots: [Int32]
    /// Per tree: levels from the root to the deepest leaf.
    let treeDepths: [Int32]
    /// Whether any split is categorical (then the branchy walker is used).
    let hasCategorical: Bool
    /// Whether a zero-as-missing split sends 0 to its default side against its threshold (`0 <= threshold` says
    /// one side, the default is the other). Without such splits, a row with no NaN walks every numerical split
    /// with the plain comparison (``LGBWalker/leanStep(_:_:_:)``), 0s included.
    let hasZeroException: Bool
    let categorySets: [(start: Int32, count: Int32)]
    let categoryWords: [UInt32]
    /// Linear leaves: per leaf (global index) the constant and a range into `linearFeatures` / `linearCoeffs`;
    /// empty when no tree is linear.
    let linearLeaves: [LinearLeaf]
    let linearFeatures: [Int32]
    let linearCoeffs: [Double]
    let treeIsLinear: [Bool]

    struct LinearLeaf: Sendable {
        var constant: Double
        var start: Int32
        var count: Int32
    }

    /// Number of trees.
    public var numTrees: Int { treeRoots.count }
    /// Number of iterations (trees / trees per iteration).
    public var numIterations: Int { numTreePerIteration == 0 ? 0 : treeRoots.count / numTreePerIteration }

    /// `kZeroThreshold` (1e-35f) as a double.
    static let zeroThreshold = Double(Float(1e-35))

    /// The shape `predict` returns for `rows` rows: `[rows]` or `[rows, classes]`.
    public func outputShape(rows: Int) -> [Int] {
        numTreePerIteration == 1 ? [rows] : [rows, numTreePerIteration]
    }

    // MARK: Loading

    /// Loads a text model file.
    /// - Throws: ``TreeModelError`` saying what is wrong (callers add the file name).
    public init(contentsOf path: String) throws(TreeModelError) {
        try self.init(bytes: try readWholeFile(path))
    }

    /// Loads a model from the bytes of a text model file.
    public init(bytes: [UInt8]) throws(TreeModelError) {
        guard bytes.count < Int(Int32.max) else { throw TreeModelError("the file is larger than 2 GiB") }
        var parsed = LGBParsed()
        let result: Result<Void, TreeModelError> = bytes.withUnsafeBytes { p in
            Result { () throws(TreeModelError) in try LGBTextParser(p: p).parse(into: &parsed) }
        }
        try result.get()
        self.objective = parsed.objective
        self.transform = parsed.transform
        self.numFeatures = parsed.numFeatures
        self.numTreePerIteration = parsed.numTreePerIteration
        self.featureNames = parsed.featureNames
        self.averageOutput = parsed.averageOutput
        self.version = parsed.version
        (self.nodes, self.treeRoots, self.firstLeafNode) = Self.innerNodesFirst(parsed)
        self.leafValues = parsed.leafValues
        self.treeDepths = parsed.depths
        self.hasCategorical = !parsed.categorySets.isEmpty
        self.hasZeroException = parsed.nodes.contains { n in
            n.decisionType & (LGBNode.leafFlag | 1) == 0 && (n.decisionType >> 2) & 3 == 1
                && (n.decisionType & 2 != 0) != (0 <= n.threshold)
        }
        self.categorySets = parsed.categorySets
        self.categoryWords = parsed.categoryWords
        self.linearLeaves = parsed.linearLeaves
        self.linearFeatures = parsed.linearFeatures
        self.linearCoeffs = parsed.linearCoeffs
        self.treeIsLinear = parsed.treeIsLinear
    }

    /// The parsed forest (per tree: inner nodes, then leaves) laid out with every inner node first and every leaf
    /// after them in `leafValues` order, so "at a leaf" is `node >= firstLeafNode`. Returns the nodes, the roots and
    /// the first leaf's index.
    static func innerNodesFirst(_ m: LGBParsed) -> (nodes: [LGBNode], roots: [Int32], firstLeaf: Int32) {
        let inner = m.nodes.count - m.leafValues.count
        var newIndex = [Int32](repeating: 0, count: m.nodes.count)
        var next: Int32 = 0
        for (i, n) in m.nodes.enumerated() where n.decisionType & LGBNode.leafFlag == 0 {
            newIndex[i] = next
            next += 1
        }
        for t in m.leafNodes.indices {
            let end = t + 1 < m.leafValueStarts.count ? Int(m.leafValueStarts[t + 1]) : m.leafValues.count
            for l in 0..<(end - Int(m.leafValueStarts[t])) {
                newIndex[Int(m.leafNodes[t]) + l] = Int32(inner) + m.leafValueStarts[t] + Int32(l)
            }
        }
        var nodes = m.nodes
        for (i, n) in m.nodes.enumerated() {
            var moved = n
            moved.left = newIndex[Int(n.left)]
            moved.right = newIndex[Int(n.right)]
            nodes[Int(newIndex[i])] = moved
        }
        return (nodes, m.roots.map { newIndex[Int($0)] }, Int32(inner))
    }

    // MARK: Prediction

    /// Predicts rows given as arrays (each must have ``numFeatures`` values; NaN = missing).
    public func predict(rows: [[Double]], rawScore: Bool = false, startIteration: Int = 0, numIteration: Int = 0)
        throws(TreeModelError) -> TreePrediction<Double>
    {
        var flat = [Double]()
        flat.reserveCapacity(rows.count * numFeatures)
        for (i, r) in rows.enumerated() {
            guard r.count == numFeatures else {
                throw TreeModelError("row \(i) has \(r.count) features; the model expects \(numFeatures)")
            }
            flat.append(contentsOf: r)
        }
        return try predict(features: flat, rows: rows.count, rawScore: rawScore, startIteration: startIteration,
                           numIteration: numIteration)
    }

    /// Predicts `rows` rows stored row-major in `features` (`rows * numFeatures` values; NaN = missing).
    ///
    /// `startIteration` / `numIteration` select iterations as `Booster.predict(start_iteration=, num_iteration=)`
    /// does (`numIteration <= 0`: all iterations from the start).
    public func predict(features: [Double], rows: Int, rawScore: Bool = false, startIteration: Int = 0,
                        numIteration: Int = 0) throws(TreeModelError) -> TreePrediction<Double>
    {
        guard rows >= 0, features.count == rows * numFeatures else {
            throw TreeModelError("got \(features.count) values for \(rows) rows; the model expects \(numFeatures) features per row")
        }
        let total = numIterations
        let start = min(max(startIteration, 0), total)
        let count = numIteration > 0 ? min(numIteration, total - start) : total - start
        let k = numTreePerIteration
        // LightGBM's C API drops |x| <= 1e-35 (so they read as 0); NaN stays.
        var input = features
        for i in input.indices where !(abs(input[i]) > Self.zeroThreshold) && !input[i].isNaN { input[i] = 0 }
        if input.isEmpty { input = [0] }
        var out = [Double](repeating: 0, count: rows * k)
        input.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                rawScores(x, rows: rows, trees: (start * k)..<((start + count) * k), into: o)
            }
        }
        if !rawScore {
            if averageOutput {
                let n = Double(count)
                for i in out.indices { out[i] /= n }
            }
            applyTransform(&out, rows: rows)
        }
        return TreePrediction(values: out, shape: outputShape(rows: rows))
    }

    /// Raw scores into `out`, in blocks of 64 rows per tree; without categorical splits the block's rows walk
    /// each tree level by level in lockstep with branch-free steps (independent walks overlap in the CPU).
    func rawScores(_ x: UnsafeBufferPointer<Double>, rows: Int, trees: Range<Int>, into out: UnsafeMutableBufferPointer<Double>) {
        guard let xp = x.baseAddress, let op = out.baseAddress, rows > 0, !trees.isEmpty else { return }
        let k = numTreePerIteration
        let f = numFeatures
        nodes.withUnsafeBufferPointer { nodes in
            categoryWords.withUnsafeBufferPointer { words in
                categorySets.withUnsafeBufferPointer { sets in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { idx in
                        let walker = LGBWalker(nodes: nodes, words: words, sets: sets)
                        var blockStart = 0
                        while blockStart < rows {
                            let blockEnd = min(blockStart + 64, rows)
                            let count = blockEnd - blockStart
                            if !hasCategorical && count < 16 {
                                for r in 0..<count {
                                    let row = xp + (blockStart + r) * f
                                    walkFewRows(row, trees: trees, nodes: nodes, out: op + (blockStart + r) * k)
                                }
                                blockStart = blockEnd
                                continue
                            }
                            let lean = isLean(xp + blockStart * f, rows: count)
                            for t in trees {
                                let root = treeRoots[t]
                                let slot = t % k
                                if hasCategorical {
                                    for r in 0..<count { idx[r] = walker.leaf(root, xp + (blockStart + r) * f) }
                                } else {
                                    for r in 0..<count { idx[r] = root }
                                    if lean {
                                        for _ in 0..<treeDepths[t] {
                                            for r in 0..<count {
                                                idx[r] = LGBWalker.leanStep(nodes, idx[r], xp + (blockStart + r) * f)
                                            }
                                        }
                                    } else {
                                        for _ in 0..<treeDepths[t] {
                                            for r in 0..<count { idx[r] = LGBWalker.step(nodes, idx[r], xp + (blockStart + r) * f) }
                                        }
                                    }
                                }
                                if treeIsLinear[t] {
                                    for r in 0..<count {
                                        let leaf = Int(idx[r]) - Int(firstLeafNode)
                                        out[(blockStart + r) * k + slot] += linearOutput(
                                            leaf, xp + (blockStart + r) * f, nodes[Int(idx[r])].threshold)
                                    }
                                } else {
                                    for r in 0..<count { out[(blockStart + r) * k + slot] += nodes[Int(idx[r])].threshold }
                                }
                            }
                            blockStart = blockEnd
                        }
                    }
                }
            }
        }
    }

    /// Lanes walked in lockstep by ``walkFewRows(_:trees:nodes:out:)``: enough independent loads in flight to hide
    /// the latency of each step's dependent loads.
    static let fewRowsLanes = 32

    /// Adds every tree of `trees` for one row to `out[tree % numTreePerIteration]`, in tree order.
    ///
    /// A tree's path is short on average (about 5 levels in a 31-leaf tree) but its deepest leaf is often 12 or more
    /// levels down, so walking every tree to its full depth wastes most steps. The walk goes in passes instead:
    /// ``fewRowsLanes`` trees at a time advance in lockstep (independent walks overlap in the CPU) a few levels (a leaf
    /// steps to itself), then the trees not yet at a leaf (leaves sit after every inner node, so that is one
    /// comparison) are gathered for the next pass, until none is left. Leaf values are added at the end in tree
    /// order, which decides the bits. On the benchmark's 500-tree model this takes about 7 steps per tree against 12
    /// for full-depth lockstep (the mean path is 4.9 levels; handing a finished tree's lane to the next tree at once
    /// costs more in bookkeeping than the steps it saves, and QuickScorer's bit-set scan was no faster: measured).
    func walkFewRows(_ row: UnsafePointer<Double>, trees: Range<Int>, nodes: UnsafeBufferPointer<LGBNode>,
                     out: UnsafeMutablePointer<Double>) {
        let lanes = Self.fewRowsLanes
        let lean = isLean(row, rows: 1)
        let firstLeaf = firstLeafNode
        let count = trees.count
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: count) { cur in
            withUnsafeTemporaryAllocation(of: Int32.self, capacity: count) { pending in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: lanes) { idx in
                    @inline(__always) func advance(_ width: Int, _ steps: Int) {
                        if lean {
                            for _ in 0..<steps {
                                for j in 0..<width { idx[j] = LGBWalker.leanStep(nodes, idx[j], row) }
                            }
                        } else {
                            for _ in 0..<steps {
                                for j in 0..<width { idx[j] = LGBWalker.step(nodes, idx[j], row) }
                            }
                        }
                    }
                    // First pass: every tree, six levels (no more than the group's deepest leaf).
                    var g = 0
                    while g < count {
                        let width = min(lanes, count - g)
                        var depth: Int32 = 0
                        for j in 0..<width {
                            idx[j] = treeRoots[trees.lowerBound + g + j]
                            depth = max(depth, treeDepths[trees.lowerBound + g + j])
                        }
                        advance(width, min(6, Int(depth)))
                        for j in 0..<width { cur[g + j] = idx[j] }
                        g += width
                    }
                    // Later passes: only the trees not yet at a leaf, three levels at a time.
                    var left = 0
                    for t in 0..<count {
                        pending[left] = Int32(t)
                        left += cur[t] < firstLeaf ? 1 : 0
                    }
                    while left > 0 {
                        g = 0
                        while g < left {
                            let width = min(lanes, left - g)
                            for j in 0..<width { idx[j] = cur[Int(pending[g + j])] }
                            advance(width, 3)
                            for j in 0..<width { cur[Int(pending[g + j])] = idx[j] }
                            g += width
                        }
                        var still = 0
                        for i in 0..<left {
                            let t = pending[i]
                            pending[still] = t
                            still += cur[Int(t)] < firstLeaf ? 1 : 0
                        }
                        left = still
                    }
                }
            }
            // Per output, its trees in order into a register (a sum through memory would wait on each store).
            let k = numTreePerIteration
            for slot in 0..<k {
                var sum = out[slot]
                var t = (slot - trees.lowerBound % k + k) % k
                if linearLeaves.isEmpty {
                    while t < count {
                        sum += nodes[Int(cur[t])].threshold
                        t += k
                    }
                } else {
                    while t < count {
                        let node = Int(cur[t]), tree = trees.lowerBound + t
                        sum += treeIsLinear[tree]
                            ? linearOutput(node - Int(firstLeaf), row, nodes[node].threshold) : nodes[node].threshold
                        t += k
                    }
                }
                out[slot] = sum
            }
        }
    }

    /// Whether `rows` rows from `x` can take ``LGBWalker/leanStep(_:_:_:)`` at every numerical split: no NaN, and
    /// no 0 when some zero-as-missing split sends 0 against its threshold.
    func isLean(_ x: UnsafePointer<Double>, rows: Int) -> Bool {
        let n = rows * numFeatures
        if hasZeroException {
            for i in 0..<n where x[i].isNaN || x[i] == 0 { return false }
        } else {
            for i in 0..<n where x[i].isNaN { return false }
        }
        return true
    }

    /// `Tree::Predict` of a linear tree: the leaf constant plus coefficient times feature, or the plain leaf
    /// value when one of the leaf's features is NaN.
    @inline(__always)
    func linearOutput(_ leaf: Int, _ row: UnsafePointer<Double>, _ fallback: Double) -> Double {
        let l = linearLeaves[leaf]
        var output = l.constant
        for i in Int(l.start)..<Int(l.start + l.count) {
            let v = row[Int(linearFeatures[i])]
            if v.isNaN { return fallback }
            output += linearCoeffs[i] * v
        }
        return output
    }

    /// The objective's `ConvertOutput` (double, glibc exp).
    func applyTransform(_ out: inout [Double], rows: Int) {
        let k = numTreePerIteration
        switch transform {
        case .identity: return
        case .sigmoid(let s):
            for i in out.indices { out[i] = 1.0 / (1.0 + libmExp(-s * out[i])) }
        case .crossEntropy:
            for i in out.indices { out[i] = 1.0 / (1.0 + libmExp(-out[i])) }
        case .crossEntropyLambda:
            for i in out.indices { out[i] = log1p(libmExp(out[i])) }
        case .exp:
            for i in out.indices { out[i] = libmExp(out[i]) }
        case .square:
            for i in out.indices {
                let x = out[i]
                let sign: Double = x > 0 ? 1 : (x < 0 ? -1 : 0)
                out[i] = sign * x * x
            }
        case .softmax:
            for r in 0..<rows {
                let base = r * k
                var wmax = out[base]
                for i in 1..<k { wmax = max(out[base + i], wmax) }
                var wsum = 0.0
                for i in 0..<k {
                    out[base + i] = libmExp(out[base + i] - wmax)
                    wsum += out[base + i]
                }
                for i in 0..<k { out[base + i] /= wsum }
            }
        }
    }
}

/// Walks one tree for one row (indices validated at load).
struct LGBWalker {
    let nodes: UnsafeBufferPointer<LGBNode>
    let words: UnsafeBufferPointer<UInt32>
    let sets: UnsafeBufferPointer<(start: Int32, count: Int32)>

    /// One branch-free level of a tree without categorical splits (a leaf steps to itself): the node's
    /// missing-value rule, then `x <= threshold` goes left.
    @inline(__always)
    static func step(_ nodes: UnsafeBufferPointer<LGBNode>, _ n: Int32, _ row: UnsafePointer<Double>) -> Int32 {
        let node = nodes[Int(n)]
        let dt = node.decisionType
        let raw = row[Int(node.feature)]
        let missing = (dt >> 2) & 3
        let nan = raw.isNaN
        let x = nan && missing != 2 ? 0 : raw
        let isDefault = (missing == 1 && x >= -LightGBMBooster.zeroThreshold && x <= LightGBMBooster.zeroThreshold)
            || (missing == 2 && nan)
        let goLeft = isDefault ? dt & 2 != 0 : x <= node.threshold
        return goLeft ? node.left : node.right
    }

    /// ``step(_:_:_:)`` for a row without NaN at a split that is not a zero-as-missing exception: every missing-value
    /// rule then agrees with `x <= threshold` (None reads NaN as 0, NaN only diverts NaN, Zero sends 0 to the side
    /// the threshold sends it to; inputs with |x| <= 1e-35 are 0 already).
    @inline(__always)
    static func leanStep(_ nodes: UnsafeBufferPointer<LGBNode>, _ n: Int32, _ row: UnsafePointer<Double>) -> Int32 {
        let node = nodes[Int(n)]
        return row[Int(node.feature)] <= node.threshold ? node.left : node.right
    }

    /// The leaf node reached from `root`, with categorical splits (`Tree::GetLeaf`).
    @inline(__always)
    func leaf(_ root: Int32, _ row: UnsafePointer<Double>) -> Int32 {
        var n = root
        while true {
            let node = nodes[Int(n)]
            let dt = node.decisionType
            if dt & LGBNode.leafFlag != 0 { return n }
            if dt & 1 != 0 {
                n = categoryGoesLeft(row[Int(node.feature)], Int(node.threshold.bitPattern)) ? node.left : node.right
            } else {
                n = LGBWalker.step(nodes, n, row)
            }
        }
    }

    /// `Tree::CategoricalDecision`: NaN and negative categories go right; a category whose bit is set goes left.
    @inline(__always)
    func categoryGoesLeft(_ x: Double, _ set: Int) -> Bool {
        if x.isNaN { return false }
        // static_cast<int>: truncation; out-of-range values become INT_MIN (negative) on x86.
        if !(x > -1) || x >= 2_147_483_648 { return false }
        let c = Int(x)
        let (start, count) = sets[set]
        let word = c >> 5
        if word >= Int(count) { return false }
        return words[Int(start) + word] & (1 << UInt32(c & 31)) != 0
    }
}

/// What the text parser collects.
struct LGBParsed {
    var objective = ""
    var transform = LightGBMBooster.Transform.identity
    var numFeatures = 0
    var numTreePerIteration = 1
    var numClass = 1
    var featureNames: [String] = []
    var averageOutput = false
    var version = ""
    var nodes: [LGBNode] = []
    var leafValues: [Double] = []
    var roots: [Int32] = []
    var leafNodes: [Int32] = []
    var leafValueStarts: [Int32] = []
    var depths: [Int32] = []
    var categorySets: [(start: Int32, count: Int32)] = []
    var categoryWords: [UInt32] = []
    var linearLeaves: [LightGBMBooster.LinearLeaf] = []
    var linearFeatures: [Int32] = []
    var linearCoeffs: [Double] = []
    var treeIsLinear: [Bool] = []
}

/// Line-oriented parser of LightGBM's text format (`src/boosting/gbdt_model_text.cpp`, `src/io/tree.cpp`).
struct LGBTextParser {
    let p: UnsafeRawBufferPointer

    /// A line as byte offsets, without the line break.
    struct Line {
        var start: Int
        var end: Int
        var number: Int
    }

    func text(_ s: Int, _ e: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: p[s..<e]), as: UTF8.self)
    }

    func parse(into m: inout LGBParsed) throws(TreeModelError) {
        // Split into lines.
        var lines: [Line] = []
        lines.reserveCapacity(p.count / 64)
        var s = 0
        var number = 1
        if let base = p.baseAddress {
            while s < p.count, let hit = memchr(base + s, 0x0A, p.count - s) {
                let i = base.distance(to: UnsafeRawPointer(hit))
                var e = i
                if e > s && p[e - 1] == 0x0D { e -= 1 }
                lines.append(Line(start: s, end: e, number: number))
                s = i + 1
                number += 1
            }
        }
        if s < p.count {
            var e = p.count
            if e > s && p[e - 1] == 0x0D { e -= 1 }
            lines.append(Line(start: s, end: e, number: number))
        }
        guard let first = lines.first, text(first.start, first.end) == "tree" else {
            throw TreeModelError("not a LightGBM text model (the first line is not \"tree\")")
        }

        // Header: key=value lines up to the first Tree=.
        var i = 1
        var header: [String: (Int, Int, Int)] = [:]  // key -> value range, line
        while i < lines.count {
            let l = lines[i]
            if l.start == l.end { i += 1; continue }
            let (key, vs) = keyValue(l)
            if key == "Tree" || key == "end of trees" { break }
            if key == "average_output" { m.averageOutput = true }
            header[key] = (vs, l.end, l.number)
            i += 1
        }
        guard let versionRange = header["version"] else { throw TreeModelError("the header has no version= line") }
        m.version = text(versionRange.0, versionRange.1)
        guard m.version == "v3" || m.version == "v4" || m.version == "v2" else {
            throw TreeModelError("unsupported model format version \"\(m.version)\" (v2, v3 and v4 are supported)")
        }
        m.numClass = try headerInt(header, "num_class", default: 1)
        m.numTreePerIteration = try headerInt(header, "num_tree_per_iteration", default: m.numClass)
        let maxFeature = try headerInt(header, "max_feature_idx", default: nil)
        guard maxFeature >= 0, maxFeature < 1 << 28 else { throw TreeModelError("max_feature_idx = \(maxFeature) is out of range") }
        m.numFeatures = maxFeature + 1
        guard m.numClass >= 1, m.numTreePerIteration >= 1, m.numTreePerIteration < 1 << 16 else {
            throw TreeModelError("num_class / num_tree_per_iteration out of range")
        }
        if let (s, e, _) = header["feature_names"] {
            m.featureNames = text(s, e).split(separator: " ").map(String.init)
            guard m.featureNames.count == m.numFeatures else {
                throw TreeModelError("feature_names has \(m.featureNames.count) names but max_feature_idx is \(maxFeature)")
            }
        }
        if let (s, e, _) = header["objective"] { m.objective = text(s, e) }
        m.transform = try Self.transform(for: m.objective, numClass: m.numTreePerIteration)

        // Trees.
        var sawEnd = false
        var expectedTree = 0
        while i < lines.count {
            let l = lines[i]
            if l.start == l.end { i += 1; continue }
            let (key, vs) = keyValue(l)
            if key == "end of trees" { sawEnd = true; break }
            guard key == "Tree" else { throw TreeModelError("line \(l.number): expected Tree=\(expectedTree)") }
            guard let index = DecimalParsing.parseIntToken(p, vs, l.end), index == expectedTree else {
                throw TreeModelError("line \(l.number): expected Tree=\(expectedTree)")
            }
            i += 1
            var fields = TreeFields()
            while i < lines.count, lines[i].start != lines[i].end {
                let fl = lines[i]
                var k = fl.start
                while k < fl.end && p[k] != UInt8(ascii: "=") { k += 1 }
                if k == fl.end || (k - fl.start == 4 && matches(fl.start, "Tree")) { break }  // "end of trees", "Tree="
                if let field = TreeFields.field(p, fl.start, k) {
                    fields.lines[field] = Line(start: k + 1, end: fl.end, number: fl.number)
                }
                i += 1
            }
            try addTree(fields, index: index, line: l.number, into: &m)
            expectedTree += 1
        }
        guard sawEnd else { throw TreeModelError("the file is truncated: no \"end of trees\" line after \(expectedTree) trees") }
        guard m.roots.count % m.numTreePerIteration == 0 else {
            throw TreeModelError("\(m.roots.count) trees are not whole iterations of \(m.numTreePerIteration)")
        }
    }

    /// Whether the bytes at `start` are `word`.
    func matches(_ start: Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard start + n <= p.count, let base = p.baseAddress else { return false }
        return memcmp(base + start, word.utf8Start, n) == 0
    }

    /// The fields of one tree the loader reads, found by comparing each line's key bytes with these names (other
    /// keys, such as `split_gain` or `internal_value`, are skipped without making a String of them).
    struct TreeFields {
        static let keys = ["num_leaves", "num_cat", "leaf_value", "is_linear", "leaf_const", "num_features",
                           "leaf_features", "leaf_coeff", "split_feature", "threshold", "decision_type", "left_child",
                           "right_child", "cat_boundaries", "cat_threshold"]
        static let keyBytes: [[UInt8]] = keys.map { Array($0.utf8) }
        var lines = [Line?](repeating: nil, count: keys.count)

        /// The index in ``keys`` of the key `p[start..<end]`, if it is one.
        static func field(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int? {
            guard let base = p.baseAddress else { return nil }
            for (i, key) in keyBytes.enumerated() where key.count == end - start {
                if key.withUnsafeBytes({ k in k.baseAddress.map { memcmp(base + start, $0, key.count) } ?? 1 }) == 0 { return i }
            }
            return nil
        }

        subscript(key: String) -> Line? {
            guard let i = Self.keys.firstIndex(of: key) else { return nil }
            return lines[i]
        }
    }

    /// Splits `key=value`; returns the key and the value's start.
    func keyValue(_ l: Line) -> (String, Int) {
        var k = l.start
        while k < l.end && p[k] != UInt8(ascii: "=") { k += 1 }
        if k == l.end { return (text(l.start, l.end), l.end) }
        return (text(l.start, k), k + 1)
    }

    func headerInt(_ h: [String: (Int, Int, Int)], _ key: String, default d: Int?) throws(TreeModelError) -> Int {
        guard let (s, e, line) = h[key] else {
            if let d { return d }
            throw TreeModelError("the header has no \(key)= line")
        }
        guard let v = DecimalParsing.parseIntToken(p, s, e) else { throw TreeModelError("line \(line): \(key) is not an integer") }
        return v
    }

    static func transform(for objective: String, numClass: Int) throws(TreeModelError) -> LightGBMBooster.Transform {
        let tokens = objective.split(separator: " ").map(String.init)
        guard let name = tokens.first else { return .identity }
        var sigmoid = 1.0
        var sqrt = false
        for t in tokens.dropFirst() {
            if t == "sqrt" { sqrt = true }
            if t.hasPrefix("sigmoid:") {
                guard let v = Double(t.dropFirst(8)), v.isFinite else { throw TreeModelError("objective \"\(objective)\": bad sigmoid") }
                sigmoid = v
            }
        }
        switch name {
        case "binary", "multiclassova", "multiclass_ova", "ova", "ovr":
            return .sigmoid(sigmoid)
        case "multiclass", "softmax":
            return numClass > 1 ? .softmax : .identity
        case "cross_entropy", "xentropy":
            return .crossEntropy
        case "cross_entropy_lambda", "xentlambda":
            return .crossEntropyLambda
        case "poisson", "gamma", "tweedie":
            return .exp
        case "regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root", "root_mean_squared_error",
            "rmse", "regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair", "quantile", "mape",
            "mean_absolute_percentage_error":
            return sqrt ? .square : .identity
        case "lambdarank", "rank_xendcg", "xendcg", "xe_ndcg", "xe_ndcg_mart", "xendcg_mart", "custom", "none", "null",
            "na":
            return .identity
        default:
            throw TreeModelError("unsupported objective \"\(objective)\"")
        }
    }

    /// The values of a field, one pass over its bytes: tokens are separated by spaces, each parsed with `parse`.
    func values<T>(_ f: TreeFields, _ key: String, count: Int, tree: Int, kind: String,
                   _ parse: (Int, Int) -> T?) throws(TreeModelError) -> [T] {
        guard let l = f[key] else {
            if count == 0 { return [] }
            throw TreeModelError("tree \(tree): \(key)= is missing")
        }
        var out = [T]()
        out.reserveCapacity(count)
        var k = l.start
        while k < l.end {
            while k < l.end && p[k] == 0x20 { k += 1 }
            let s = k
            while k < l.end && p[k] != 0x20 { k += 1 }
            guard k > s else { break }
            guard let v = parse(s, k) else {
                throw TreeModelError("tree \(tree) (line \(l.number)): \(key) holds \"\(text(s, k))\", not \(kind)")
            }
            out.append(v)
        }
        if out.count != count {
            throw TreeModelError("tree \(tree) (line \(l.number)): \(key) has \(out.count) values, expected \(count)")
        }
        return out
    }

    func doubles(_ f: TreeFields, _ key: String, count: Int, tree: Int) throws(TreeModelError) -> [Double] {
        try values(f, key, count: count, tree: tree, kind: "a number") { s, e in DecimalParsing.parseDoubleToken(p, s, e) }
    }

    func ints(_ f: TreeFields, _ key: String, count: Int, tree: Int) throws(TreeModelError) -> [Int] {
        try values(f, key, count: count, tree: tree, kind: "an integer") { s, e in DecimalParsing.parseIntToken(p, s, e) }
    }

    func addTree(_ f: TreeFields, index t: Int, line: Int, into m: inout LGBParsed) throws(TreeModelError) {
        guard let nl = f["num_leaves"], let numLeaves = DecimalParsing.parseIntToken(p, nl.start, nl.end),
            numLeaves >= 1, numLeaves < 1 << 24
        else { throw TreeModelError("tree \(t) (line \(line)): num_leaves is missing or out of range") }
        let numCat: Int
        if let nc = f["num_cat"] {
            guard let v = DecimalParsing.parseIntToken(p, nc.start, nc.end), v >= 0, v < 1 << 24 else {
                throw TreeModelError("tree \(t): num_cat is out of range")
            }
            numCat = v
        } else {
            numCat = 0
        }
        let inner = numLeaves - 1
        let leafValue = try doubles(f, "leaf_value", count: numLeaves, tree: t)
        let leafBase = m.leafValues.count
        let nodeBase = m.nodes.count
        guard leafBase + numLeaves < Int(Int32.max), nodeBase + inner + numLeaves < Int(Int32.max) else {
            throw TreeModelError("the model has too many nodes")
        }
        m.leafValues.append(contentsOf: leafValue)

        var isLinear = false
        if let il = f["is_linear"], let v = DecimalParsing.parseIntToken(p, il.start, il.end) { isLinear = v != 0 }
        m.treeIsLinear.append(isLinear)
        if isLinear || !m.linearLeaves.isEmpty {
            // Keep linearLeaves aligned with leafValues once any tree is linear.
            if m.linearLeaves.count < leafBase {
                m.linearLeaves.append(contentsOf: repeatElement(.init(constant: 0, start: 0, count: 0), count: leafBase - m.linearLeaves.count))
            }
        }
        if isLinear {
            let consts = try doubles(f, "leaf_const", count: numLeaves, tree: t)
            let counts = try ints(f, "num_features", count: numLeaves, tree: t)
            let total = counts.reduce(0) { $0 + max($1, 0) }
            guard counts.allSatisfy({ $0 >= 0 }) else { throw TreeModelError("tree \(t): negative num_features") }
            let feats = try ints(f, "leaf_features", count: total, tree: t)
            let coeffs = try doubles(f, "leaf_coeff", count: total, tree: t)
            var k = 0
            for leaf in 0..<numLeaves {
                let start = m.linearFeatures.count
                for _ in 0..<counts[leaf] {
                    guard feats[k] >= 0, feats[k] < m.numFeatures else {
                        throw TreeModelError("tree \(t): linear leaf \(leaf) uses feature \(feats[k]) outside 0..<\(m.numFeatures)")
                    }
                    m.linearFeatures.append(Int32(feats[k]))
                    m.linearCoeffs.append(coeffs[k])
                    k += 1
                }
                m.linearLeaves.append(.init(constant: consts[leaf], start: Int32(start), count: Int32(counts[leaf])))
            }
        } else if !m.linearLeaves.isEmpty {
            m.linearLeaves.append(contentsOf: repeatElement(.init(constant: 0, start: 0, count: 0), count: numLeaves))
        }

        // Leaf nodes follow the inner nodes: node nodeBase + inner + i is leaf i.
        let leafNodeBase = nodeBase + inner
        func appendLeaves() {
            for (i, v) in leafValue.enumerated() {
                let me = Int32(leafNodeBase + i)
                m.nodes.append(LGBNode(threshold: v, feature: 0, left: me, right: me, decisionType: LGBNode.leafFlag))
            }
            m.leafNodes.append(Int32(leafNodeBase))
            m.leafValueStarts.append(Int32(leafBase))
        }
        if numLeaves == 1 {
            appendLeaves()
            m.roots.append(Int32(leafNodeBase))
            m.depths.append(0)
            return
        }
        let feature = try ints(f, "split_feature", count: inner, tree: t)
        let threshold = try doubles(f, "threshold", count: inner, tree: t)
        let decision = try ints(f, "decision_type", count: inner, tree: t)
        let left = try ints(f, "left_child", count: inner, tree: t)
        let right = try ints(f, "right_child", count: inner, tree: t)
        var catSetBase = m.categorySets.count
        if numCat > 0 {
            let bounds = try ints(f, "cat_boundaries", count: numCat + 1, tree: t)
            guard bounds.first == 0, zip(bounds, bounds.dropFirst()).allSatisfy({ $0 <= $1 }), let last = bounds.last,
                last < 1 << 26
            else { throw TreeModelError("tree \(t): cat_boundaries is not a non-decreasing list from 0") }
            let words = try ints(f, "cat_threshold", count: last, tree: t)
            let wordBase = m.categoryWords.count
            for w in words {
                guard w >= 0, w <= Int(UInt32.max) else { throw TreeModelError("tree \(t): cat_threshold value \(w) is out of range") }
                m.categoryWords.append(UInt32(w))
            }
            catSetBase = m.categorySets.count
            for c in 0..<numCat {
                m.categorySets.append((Int32(wordBase + bounds[c]), Int32(bounds[c + 1] - bounds[c])))
            }
        }
        func child(_ c: Int, _ n: Int) throws(TreeModelError) -> Int32 {
            if c >= 0 {
                guard c < inner, c != 0 else { throw TreeModelError("tree \(t): node \(n) has child \(c) outside 1..<\(inner)") }
                return Int32(nodeBase + c)
            }
            let leaf = ~c
            guard leaf < numLeaves else { throw TreeModelError("tree \(t): node \(n) has leaf \(leaf) outside 0..<\(numLeaves)") }
            return Int32(leafNodeBase + leaf)
        }
        for n in 0..<inner {
            guard feature[n] >= 0, feature[n] < m.numFeatures else {
                throw TreeModelError("tree \(t): node \(n) splits on feature \(feature[n]) outside 0..<\(m.numFeatures)")
            }
            guard decision[n] >= 0, decision[n] < 256 else { throw TreeModelError("tree \(t): decision_type \(decision[n]) is out of range") }
            var th = threshold[n]
            if decision[n] & 1 != 0 {
                guard th >= 0, th < Double(numCat), th.rounded(.towardZero) == th else {
                    throw TreeModelError("tree \(t): categorical node \(n) has threshold \(th) outside 0..<\(numCat)")
                }
                th = Double(bitPattern: UInt64(catSetBase + Int(th)))
            }
            m.nodes.append(LGBNode(threshold: th, feature: Int32(feature[n]), left: try child(left[n], n),
                                   right: try child(right[n], n), decisionType: UInt8(decision[n])))
        }
        appendLeaves()
        // Every node and leaf reached once from the root: no cycles. Also the depth.
        var seenNode = [Bool](repeating: false, count: inner)
        var seenLeaf = [Bool](repeating: false, count: numLeaves)
        var stack = [(0, 0)]
        seenNode[0] = true
        var depth = 0
        while let (n, d) = stack.popLast() {
            for c in [left[n], right[n]] {
                if c >= 0 {
                    guard !seenNode[c] else { throw TreeModelError("tree \(t): node \(c) is reached twice (the tree has a cycle)") }
                    seenNode[c] = true
                    stack.append((c, d + 1))
                } else {
                    guard !seenLeaf[~c] else { throw TreeModelError("tree \(t): leaf \(~c) is reached twice") }
                    seenLeaf[~c] = true
                    depth = max(depth, d + 1)
                }
            }
        }
        m.roots.append(Int32(nodeBase))
        m.depths.append(Int32(depth))
    }
}
