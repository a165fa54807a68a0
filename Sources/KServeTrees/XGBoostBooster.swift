#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One node of the flattened XGBoost forest (16 bytes).
///
/// `info` holds the feature index in its low 29 bits and the flags above. For a numerical split `value` is the
/// float32 threshold; for a categorical split its bit pattern indexes ``XGBoostBooster`` category sets; for a leaf
/// it is the leaf value. A leaf's children are the leaf itself, so a walk of a fixed number of levels (the tree's
/// depth) ends on the leaf without testing for it.
struct XGBNode: Sendable {
    var value: Float
    var info: UInt32
    var left: Int32
    var right: Int32

    static let leafBit: UInt32 = 1 << 31
    static let defaultLeftBit: UInt32 = 1 << 30
    static let categoricalBit: UInt32 = 1 << 29
    static let featureMask: UInt32 = (1 << 29) - 1
}

/// An XGBoost model (`Booster.save_model` JSON or UBJ, gbtree or dart) with a predictor that returns bit for bit
/// what `Booster.predict` returns.
///
/// Exactness: inputs are cast to float32; a split goes left iff `x < threshold` (float32, strict); a missing value
/// (NaN) follows the node's default direction; categorical splits send categories in the node's set right; margins
/// start at the base score (converted to margin space at load as XGBoost does) and add leaves in float32 in tree
/// order; transforms use glibc `expf`.
///
/// ```swift
/// let booster = try XGBoostBooster(contentsOf: "model.json")
/// let p = try booster.predict(rows: [[5.1, 3.5, 1.4, 0.2]])
/// ```
public struct XGBoostBooster: Sendable {
    /// How raw margins become predictions.
    public enum Transform: String, Sendable {
        case identity, logistic, softmax, softprob, exp, hinge
    }

    /// The objective name (`binary:logistic`, `multi:softprob`, ...).
    public let objective: String
    /// The transform of ``objective``.
    public let transform: Transform
    /// Number of input features each row must have.
    public let numFeatures: Int
    /// Margins per row: classes (multi:*), targets (multi-target), else 1.
    public let numGroups: Int
    /// `feature_names` saved with the model (empty when none were given).
    public let featureNames: [String]
    /// `feature_types` saved with the model (`q`, `c`, `int`, `float`, `i`; empty when none).
    public let featureTypes: [String]
    /// The XGBoost version that saved the model.
    public let version: [Int]
    /// `gbtree` or `dart`.
    public let boosterName: String
    /// The base margin per group (the saved base_score converted to margin space).
    public let baseMargin: [Float]

    let nodes: [XGBNode]
    let treeRoots: [Int32]
    let treeGroups: [Int32]
    let treeWeights: [Float]?
    let iterationIndptr: [Int]
    /// Category sets: each is (start, count) into `categoryWords` bitset words.
    let categorySets: [(start: Int32, count: Int32)]
    let categoryWords: [UInt32]
    let leafVectors: [Float]
    let leafVectorSize: Int
    /// Per node (only for vector-leaf models): the offset of the leaf's values in `leafVectors`.
    let vectorOffsets: [Int32]
    /// Per tree: the number of levels from the root to the deepest leaf.
    let treeDepths: [Int32]
    /// Whether any split is categorical (then the branchy walker is used).
    let hasCategorical: Bool

    /// Number of trees.
    public var numTrees: Int { treeRoots.count }
    /// Number of boosting rounds (layers), the unit of `iterationRange`.
    public var numIterations: Int { iterationIndptr.count - 1 }

    /// The shape `predict` returns for `rows` rows: `[rows]` for one value per row (binary, regression, softmax
    /// class index), else `[rows, numGroups]`.
    public func outputShape(rows: Int, outputMargin: Bool) -> [Int] {
        if !outputMargin && transform == .softmax { return [rows] }
        return numGroups == 1 ? [rows] : [rows, numGroups]
    }

    // MARK: Loading

    /// Loads a model file (JSON or UBJ, detected from the content).
    /// - Throws: ``TreeModelError`` saying what is wrong (not naming the file; callers add it).
    public init(contentsOf path: String) throws(TreeModelError) {
        try self.init(bytes: try readWholeFile(path))
    }

    /// Loads a model from the bytes of a JSON or UBJ file.
    public init(bytes: [UInt8]) throws(TreeModelError) {
        let doc = try DocumentParser.parse(bytes)
        try self.init(document: doc)
    }

    init(document doc: ModelDocument) throws(TreeModelError) {
        let root = doc.root
        guard let learner = root["learner"] else {
            throw TreeModelError("not an XGBoost model: no \"learner\" object")
        }
        var version: [Int] = []
        if let v = root["version"]?.arrayValue {
            for item in v { if case .number(let n) = item, let i = doc.int(n) { version.append(i) } }
        }
        self.version = version
        guard let lmp = learner["learner_model_param"] else {
            throw TreeModelError("learner.learner_model_param is missing")
        }
        let numFeature = try doc.intParam(lmp["num_feature"], "learner_model_param.num_feature")
        let numClass = lmp["num_class"] == nil ? 0 : try doc.intParam(lmp["num_class"], "learner_model_param.num_class")
        let numTarget = lmp["num_target"] == nil ? 1 : try doc.intParam(lmp["num_target"], "learner_model_param.num_target")
        guard numFeature >= 0, numFeature < 1 << 29 else { throw TreeModelError("num_feature = \(numFeature) is out of range") }
        guard numClass >= 0, numClass < 1 << 20, numTarget >= 1, numTarget < 1 << 20 else {
            throw TreeModelError("num_class = \(numClass) / num_target = \(numTarget) is out of range")
        }
        let groups = max(numClass, numTarget, 1)
        self.numFeatures = numFeature
        self.numGroups = groups

        guard let objName = learner["objective"]?["name"]?.stringValue else {
            throw TreeModelError("learner.objective.name is missing")
        }
        self.objective = objName
        let (transform, link) = try Self.objectiveInfo(objName)
        if (transform == .softmax || transform == .softprob) && numClass < 1 {
            throw TreeModelError("objective \(objName) needs num_class >= 1")
        }
        self.transform = transform

        self.featureNames = (learner["feature_names"]?.arrayValue ?? []).compactMap(\.stringValue)
        self.featureTypes = (learner["feature_types"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !featureNames.isEmpty && featureNames.count != numFeature {
            throw TreeModelError("feature_names has \(featureNames.count) entries but num_feature is \(numFeature)")
        }

        // base_score: "5E-1" (2.x) or "[a,b,...]" (3.1+), in prediction space.
        let baseText = lmp["base_score"]?.stringValue ?? "5E-1"
        var bases = try Self.parseBaseScore(baseText)
        if bases.count == 1 && groups > 1 { bases = Array(repeating: bases[0], count: groups) }
        guard bases.count == groups else {
            throw TreeModelError("base_score has \(bases.count) values but the model has \(groups) outputs")
        }
        self.baseMargin = bases.map { link($0) }

        // Booster: gbtree, or dart wrapping a gbtree.
        guard let gb = learner["gradient_booster"], let gbName = gb["name"]?.stringValue else {
            throw TreeModelError("learner.gradient_booster.name is missing")
        }
        self.boosterName = gbName
        let model: DocValue
        var weights: [Float]? = nil
        switch gbName {
        case "gbtree":
            guard let m = gb["model"] else { throw TreeModelError("gradient_booster.model is missing") }
            model = m
        case "dart":
            guard let m = gb["gbtree"]?["model"] else { throw TreeModelError("dart: gradient_booster.gbtree.model is missing") }
            model = m
            weights = try doc.floats(gb["weight_drop"], "dart weight_drop")
        case "gblinear":
            throw TreeModelError("gblinear models are not supported (only gbtree and dart)")
        default:
            throw TreeModelError("unsupported booster \"\(gbName)\" (only gbtree and dart)")
        }

        guard let treeValues = model["trees"]?.arrayValue else { throw TreeModelError("model.trees is missing") }
        let treeInfo = try doc.ints(model["tree_info"], "model.tree_info")
        guard treeInfo.count == treeValues.count else {
            throw TreeModelError("tree_info has \(treeInfo.count) entries for \(treeValues.count) trees")
        }
        if let weights, weights.count != treeValues.count {
            throw TreeModelError("dart weight_drop has \(weights.count) entries for \(treeValues.count) trees")
        }
        var numParallel = 1
        if let p = model["gbtree_model_param"]?["num_parallel_tree"] {
            numParallel = try doc.intParam(p, "num_parallel_tree")
            guard numParallel >= 1 else { throw TreeModelError("num_parallel_tree = \(numParallel) must be >= 1") }
        }

        // Trees in id order.
        var order = [(Int, Int)]()  // (id, index)
        for (i, t) in treeValues.enumerated() {
            let id = t["id"] == nil ? i : try doc.intParam(t["id"], "trees[\(i)].id")
            order.append((id, i))
        }
        order.sort { $0.0 < $1.0 }
        for (k, (id, _)) in order.enumerated() where id != k {
            throw TreeModelError("tree ids are not 0..<\(treeValues.count) (found id \(id))")
        }

        var builder = XGBForestBuilder(numFeatures: numFeature, numGroups: groups)
        var leafSize = 1
        for (k, (_, index)) in order.enumerated() {
            let group = treeInfo[index]
            let size = try builder.addTree(treeValues[index], doc: doc, name: "tree \(k)")
            if size > 1 {
                guard size == groups else {
                    throw TreeModelError("tree \(k): size_leaf_vector \(size) but the model has \(groups) targets")
                }
                leafSize = size
            }
            guard group >= 0 && (group < groups) else {
                throw TreeModelError("tree_info[\(k)] = \(group) is out of range for \(groups) outputs")
            }
            builder.treeGroups.append(Int32(group))
        }
        self.nodes = builder.nodes
        self.treeRoots = builder.roots
        self.treeGroups = builder.treeGroups
        self.categorySets = builder.categorySets
        self.categoryWords = builder.categoryWords
        self.leafVectors = builder.leafVectors
        self.leafVectorSize = leafSize
        self.vectorOffsets = builder.vectorOffsets
        self.treeDepths = builder.depths
        self.hasCategorical = !builder.categorySets.isEmpty
        if let weights { self.treeWeights = order.map { weights[$0.1] } } else { self.treeWeights = nil }

        // Layers: iteration_indptr, or (older files) num_parallel_tree x trees per round.
        let trees = treeValues.count
        if model["iteration_indptr"] != nil {
            let indptr = try doc.ints(model["iteration_indptr"], "model.iteration_indptr")
            guard indptr.first == 0, indptr.last == trees, zip(indptr, indptr.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw TreeModelError("iteration_indptr is not a non-decreasing 0...\(trees) sequence")
            }
            self.iterationIndptr = indptr
        } else {
            let perLayer = numParallel * (leafSize > 1 ? 1 : groups)
            guard perLayer > 0, trees % perLayer == 0 else {
                throw TreeModelError("\(trees) trees do not form whole rounds of \(perLayer)")
            }
            self.iterationIndptr = Array(stride(from: 0, through: trees, by: perLayer))
        }
    }

    /// The transform and the base_score link (prediction space -> margin space) of an objective.
    static func objectiveInfo(_ name: String) throws(TreeModelError) -> (Transform, @Sendable (Float) -> Float) {
        let identity: @Sendable (Float) -> Float = { $0 }
        let logit: @Sendable (Float) -> Float = { b in
            let c = min(max(b, 1e-6 as Float), 1 - 1e-6 as Float)
            return -logf(1.0 / c - 1.0)
        }
        let log: @Sendable (Float) -> Float = { b in logf(b) }
        switch name {
        case "binary:logistic", "reg:logistic":
            return (.logistic, logit)
        case "binary:logitraw":
            return (.identity, identity)
        case "binary:hinge":
            return (.hinge, identity)
        case "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft":
            return (.exp, log)
        case "multi:softmax":
            return (.softmax, identity)
        case "multi:softprob":
            return (.softprob, identity)
        case "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror", "reg:absoluteerror",
            "reg:quantileerror", "reg:expectileerror", "rank:pairwise", "rank:ndcg", "rank:map":
            return (.identity, identity)
        default:
            throw TreeModelError("unsupported objective \"\(name)\"")
        }
    }

    /// `"5E-1"` or `"[a,b,...]"` -> floats.
    static func parseBaseScore(_ text: String) throws(TreeModelError) -> [Float] {
        var bytes = Array(text.utf8)
        while let f = bytes.first, f == 0x20 { bytes.removeFirst() }
        while let l = bytes.last, l == 0x20 { bytes.removeLast() }
        if bytes.first == UInt8(ascii: "[") {
            guard bytes.last == UInt8(ascii: "]") else { throw TreeModelError("base_score \"\(text)\" is malformed") }
            bytes = Array(bytes.dropFirst().dropLast())
        }
        let parsed: [Float]? = bytes.withUnsafeBytes { p in
            var out: [Float] = []
            var start = 0
            for i in 0...p.count where i == p.count || p[i] == UInt8(ascii: ",") {
                var s = start, e = i
                while s < e && p[s] == 0x20 { s += 1 }
                while e > s && p[e - 1] == 0x20 { e -= 1 }
                guard let f = DecimalParsing.parseFloatToken(p, s, e) else { return nil }
                out.append(f)
                start = i + 1
            }
            return out
        }
        guard let parsed else { throw TreeModelError("base_score \"\(text)\" is not a number list") }
        return parsed
    }

    // MARK: Prediction

    /// Resolves an iteration range (`(0, 0)` = all rounds, as XGBoost) to a range of trees.
    public func treeRange(iterationRange: (Int, Int)?) throws(TreeModelError) -> Range<Int> {
        guard let (b, e0) = iterationRange else { return 0..<numTrees }
        let e = e0 == 0 ? numIterations : e0
        guard b >= 0, b <= e, e <= numIterations else {
            throw TreeModelError("iteration_range (\(b), \(e0)) is out of range for a model with \(numIterations) rounds")
        }
        return iterationIndptr[b]..<iterationIndptr[e]
    }

    /// Predicts rows given as arrays (each must have ``numFeatures`` values; NaN = missing).
    public func predict(rows: [[Float]], outputMargin: Bool = false, iterationRange: (Int, Int)? = nil)
        throws(TreeModelError) -> TreePrediction<Float>
    {
        var flat = [Float]()
        flat.reserveCapacity(rows.count * numFeatures)
        for (i, r) in rows.enumerated() {
            guard r.count == numFeatures else {
                throw TreeModelError("row \(i) has \(r.count) features; the model expects \(numFeatures)")
            }
            flat.append(contentsOf: r)
        }
        return try predict(features: flat, rows: rows.count, outputMargin: outputMargin, iterationRange: iterationRange)
    }

    /// Predicts `rows` rows stored row-major in `features` (`rows * numFeatures` values; NaN = missing).
    public func predict(features: [Float], rows: Int, outputMargin: Bool = false, iterationRange: (Int, Int)? = nil)
        throws(TreeModelError) -> TreePrediction<Float>
    {
        guard rows >= 0, features.count == rows * numFeatures else {
            throw TreeModelError("got \(features.count) values for \(rows) rows; the model expects \(numFeatures) features per row")
        }
        let range = try treeRange(iterationRange: iterationRange)
        var margins = [Float](repeating: 0, count: rows * numGroups)
        let input = features.isEmpty ? [Float.nan] : features  // a valid base address even without features
        input.withUnsafeBufferPointer { x in
            margins.withUnsafeMutableBufferPointer { m in
                computeMargins(x, rows: rows, trees: range, into: m)
            }
        }
        if outputMargin {
            return TreePrediction(values: margins, shape: numGroups == 1 ? [rows] : [rows, numGroups])
        }
        return applyTransform(margins, rows: rows)
    }

    /// Raw margins into `out` (rows x numGroups), starting from the base margin.
    ///
    /// Rows are processed in blocks of 64 per tree (as XGBoost's CPU predictor does); without categorical splits
    /// and vector leaves the block's rows walk the tree level by level in lockstep with branch-free steps, so the
    /// independent walks overlap in the CPU. Each row still adds its trees' leaves in tree order.
    func computeMargins(_ x: UnsafeBufferPointer<Float>, rows: Int, trees: Range<Int>, into out: UnsafeMutableBufferPointer<Float>) {
        let g = numGroups
        for r in 0..<rows {
            for k in 0..<g { out[r * g + k] = baseMargin[k] }
        }
        guard !trees.isEmpty, rows > 0, let xp = x.baseAddress else { return }
        let f = numFeatures
        let lockstep = !hasCategorical && leafVectorSize == 1
        nodes.withUnsafeBufferPointer { nodes in
            categoryWords.withUnsafeBufferPointer { words in
                categorySets.withUnsafeBufferPointer { sets in
                    leafVectors.withUnsafeBufferPointer { lv in
                        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 64) { idx in
                            let walker = XGBWalker(nodes: nodes, words: words, sets: sets, features: f)
                            var blockStart = 0
                            while blockStart < rows {
                                let blockEnd = min(blockStart + 64, rows)
                                let count = blockEnd - blockStart
                                if lockstep && count < 16 {
                                    // Few rows: walk 8 trees at once per row, then add their leaves in tree order.
                                    for r in 0..<count {
                                        let row = xp + (blockStart + r) * f
                                        let o = (blockStart + r) * g
                                        // One output: sum in a register (a sum through memory waits on each store).
                                        var sum = out[o]
                                        var t = trees.lowerBound
                                        while t < trees.upperBound {
                                            let m = min(8, trees.upperBound - t)
                                            var depth: Int32 = 0
                                            for j in 0..<m {
                                                idx[j] = treeRoots[t + j]
                                                depth = max(depth, treeDepths[t + j])
                                            }
                                            for _ in 0..<depth {
                                                for j in 0..<m { idx[j] = XGBWalker.step(nodes, idx[j], row) }
                                            }
                                            if g == 1 {
                                                if let weights = treeWeights {
                                                    for j in 0..<m { sum += nodes[Int(idx[j])].value * weights[t + j] }
                                                } else {
                                                    for j in 0..<m { sum += nodes[Int(idx[j])].value }
                                                }
                                            } else if let weights = treeWeights {
                                                for j in 0..<m { out[o + Int(treeGroups[t + j])] += nodes[Int(idx[j])].value * weights[t + j] }
                                            } else {
                                                for j in 0..<m { out[o + Int(treeGroups[t + j])] += nodes[Int(idx[j])].value }
                                            }
                                            t += m
                                        }
                                        if g == 1 { out[o] = sum }
                                    }
                                    blockStart = blockEnd
                                    continue
                                }
                                for t in trees {
                                    let root = treeRoots[t]
                                    let group = Int(treeGroups[t])
                                    if lockstep {
                                        for r in 0..<count { idx[r] = root }
                                        for _ in 0..<treeDepths[t] {
                                            for r in 0..<count {
                                                idx[r] = XGBWalker.step(nodes, idx[r], xp + (blockStart + r) * f)
                                            }
                                        }
                                        if let w = treeWeights?[t] {
                                            for r in 0..<count {
                                                out[(blockStart + r) * g + group] += nodes[Int(idx[r])].value * w
                                            }
                                        } else {
                                            for r in 0..<count {
                                                out[(blockStart + r) * g + group] += nodes[Int(idx[r])].value
                                            }
                                        }
                                    } else if leafVectorSize > 1 {
                                        for r in blockStart..<blockEnd {
                                            let leaf = walker.leaf(Int(root), xp + r * f)
                                            let off = Int(vectorOffsets[leaf])
                                            for k in 0..<leafVectorSize { out[r * g + k] += lv[off + k] }
                                        }
                                    } else if let w = treeWeights?[t] {
                                        for r in blockStart..<blockEnd {
                                            out[r * g + group] += nodes[walker.leaf(Int(root), xp + r * f)].value * w
                                        }
                                    } else {
                                        for r in blockStart..<blockEnd {
                                            out[r * g + group] += nodes[walker.leaf(Int(root), xp + r * f)].value
                                        }
                                    }
                                }
                                blockStart = blockEnd
                            }
                        }
                    }
                }
            }
        }
    }

    /// Margins -> predictions, as XGBoost's PredTransform (float32, glibc expf).
    func applyTransform(_ margins: [Float], rows: Int) -> TreePrediction<Float> {
        let g = numGroups
        let shape = g == 1 ? [rows] : [rows, g]
        switch transform {
        case .identity:
            return TreePrediction(values: margins, shape: shape)
        case .logistic:
            return TreePrediction(values: margins.map(Self.sigmoid), shape: shape)
        case .exp:
            return TreePrediction(values: margins.map { expf($0) }, shape: shape)
        case .hinge:
            return TreePrediction(values: margins.map { $0 > 0 ? 1 : 0 }, shape: shape)
        case .softprob:
            var out = margins
            for r in 0..<rows { Self.softmax(&out, r * g, g) }
            return TreePrediction(values: out, shape: shape)
        case .softmax:
            var out = [Float](repeating: 0, count: rows)
            for r in 0..<rows {
                var best = 0
                for k in 1..<max(g, 1) where margins[r * g + k] > margins[r * g + best] { best = k }
                out[r] = Float(best)
            }
            return TreePrediction(values: out, shape: [rows])
        }
    }

    /// `common::Sigmoid`: `1 / (expf(min(-x, 88.7)) + 1 + 1e-16)` in float32.
    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        let kEps: Float = 1e-16
        let e = expf(min(-x, 88.7 as Float))
        let denom = e + 1.0 + kEps
        return 1.0 / denom
    }

    /// `common::Softmax`: max-subtracted expf, sum in double, divide by the float of the sum.
    static func softmax(_ v: inout [Float], _ start: Int, _ count: Int) {
        guard count > 0 else { return }
        var wmax = v[start]
        for i in (start + 1)..<(start + count) { wmax = fmaxf(v[i], wmax) }
        var wsum: Double = 0
        for i in start..<(start + count) {
            v[i] = expf(v[i] - wmax)
            wsum += Double(v[i])
        }
        let s = Float(wsum)
        for i in start..<(start + count) { v[i] /= s }
    }
}

/// Walks one tree for one row over the flattened nodes (indices validated at load).
struct XGBWalker {
    let nodes: UnsafeBufferPointer<XGBNode>
    let words: UnsafeBufferPointer<UInt32>
    let sets: UnsafeBufferPointer<(start: Int32, count: Int32)>
    let features: Int

    /// One branch-free level of a numerical tree (no categorical splits): a leaf steps to itself.
    @inline(__always)
    static func step(_ nodes: UnsafeBufferPointer<XGBNode>, _ n: Int32, _ row: UnsafePointer<Float>) -> Int32 {
        let node = nodes[Int(n)]
        let x = row[Int(node.info & XGBNode.featureMask)]
        let numericLeft = x < node.value
        let defaultLeft = node.info & XGBNode.defaultLeftBit != 0
        let goLeft = x.isNaN ? defaultLeft : numericLeft
        return goLeft ? node.left : node.right
    }

    @inline(__always)
    func leaf(_ root: Int, _ row: UnsafePointer<Float>) -> Int {
        var n = root
        while true {
            let node = nodes[n]
            let info = node.info
            if info & XGBNode.leafBit != 0 { return n }
            let x = row[Int(info & XGBNode.featureMask)]
            if x.isNaN {
                n = Int(info & XGBNode.defaultLeftBit != 0 ? node.left : node.right)
            } else if info & XGBNode.categoricalBit != 0 {
                n = Int(categoryGoesLeft(x, Int(node.value.bitPattern)) ? node.left : node.right)
            } else {
                n = Int(x < node.value ? node.left : node.right)
            }
        }
    }

    /// `common::Decision`: invalid (negative, >= 2^24) categories and categories outside the set go left.
    @inline(__always)
    func categoryGoesLeft(_ x: Float, _ set: Int) -> Bool {
        if x < 0 || x >= 16_777_216 { return true }
        let c = Int(x)
        let (start, count) = sets[set]
        let word = c >> 5
        if word >= Int(count) { return true }
        return words[Int(start) + word] & (1 << UInt32(c & 31)) == 0
    }
}

/// Flattens trees into one node pool, validating every index so prediction can never go out of bounds or loop.
struct XGBForestBuilder {
    let numFeatures: Int
    let numGroups: Int
    var nodes: [XGBNode] = []
    var roots: [Int32] = []
    var treeGroups: [Int32] = []
    var categorySets: [(start: Int32, count: Int32)] = []
    var categoryWords: [UInt32] = []
    var leafVectors: [Float] = []
    var vectorOffsets: [Int32] = []
    var depths: [Int32] = []

    /// Adds one tree; returns its leaf vector size.
    mutating func addTree(_ t: DocValue, doc: ModelDocument, name: String) throws(TreeModelError) -> Int {
        let param = t["tree_param"]
        let numNodes = try doc.intParam(param?["num_nodes"], "\(name): tree_param.num_nodes")
        let leafSize = param?["size_leaf_vector"] == nil ? 1 : try doc.intParam(param?["size_leaf_vector"], "\(name): size_leaf_vector")
        guard numNodes >= 1, numNodes < 1 << 28 else { throw TreeModelError("\(name): num_nodes = \(numNodes) is out of range") }
        guard leafSize >= 0, leafSize < 1 << 20 else { throw TreeModelError("\(name): size_leaf_vector = \(leafSize) is out of range") }
        let effectiveLeafSize = max(leafSize, 1)
        let left = try doc.ints(t["left_children"], "\(name): left_children")
        let right = try doc.ints(t["right_children"], "\(name): right_children")
        let splitIndex = try doc.ints(t["split_indices"], "\(name): split_indices")
        let cond = try doc.floats(t["split_conditions"], "\(name): split_conditions")
        let defaultLeft = try doc.ints(t["default_left"], "\(name): default_left")
        let splitType = t["split_type"] == nil ? [Int](repeating: 0, count: numNodes) : try doc.ints(t["split_type"], "\(name): split_type")
        for (label, count) in [("left_children", left.count), ("right_children", right.count),
                               ("split_indices", splitIndex.count), ("split_conditions", cond.count),
                               ("default_left", defaultLeft.count), ("split_type", splitType.count)] where count != numNodes {
            throw TreeModelError("\(name): \(label) has \(count) entries for \(numNodes) nodes")
        }

        // Categorical sets of this tree, by node.
        var catOfNode: [Int: Int] = [:]
        if splitType.contains(where: { $0 != 0 }) {
            let catNodes = try doc.ints(t["categories_nodes"], "\(name): categories_nodes")
            let segments = try doc.ints(t["categories_segments"], "\(name): categories_segments")
            let sizes = try doc.ints(t["categories_sizes"], "\(name): categories_sizes")
            let cats = try doc.ints(t["categories"], "\(name): categories")
            guard catNodes.count == segments.count, catNodes.count == sizes.count else {
                throw TreeModelError("\(name): categories_nodes/segments/sizes differ in length")
            }
            for (k, node) in catNodes.enumerated() {
                let seg = segments[k], size = sizes[k]
                guard node >= 0, node < numNodes, seg >= 0, size >= 0, seg <= cats.count, size <= cats.count - seg else {
                    throw TreeModelError("\(name): categorical split \(k) points outside the categories list")
                }
                var maxCat = -1
                for c in cats[seg..<(seg + size)] {
                    guard c >= 0, c < 1 << 24 else { throw TreeModelError("\(name): category \(c) is out of range") }
                    maxCat = max(maxCat, c)
                }
                let wordCount = (maxCat + 1 + 31) / 32
                let start = categoryWords.count
                categoryWords.append(contentsOf: repeatElement(0, count: wordCount))
                for c in cats[seg..<(seg + size)] { categoryWords[start + c >> 5] |= 1 << UInt32(c & 31) }
                catOfNode[node] = categorySets.count
                categorySets.append((Int32(start), Int32(wordCount)))
            }
        }

        // Vector leaves: 3.2 stores them in leaf_weights (indexed by right_children * size); older files in
        // base_weights (indexed by node * size).
        var vectorWeights: [Float] = []
        var vectorByRight = false
        if effectiveLeafSize > 1 {
            if t["leaf_weights"] != nil {
                vectorWeights = try doc.floats(t["leaf_weights"], "\(name): leaf_weights")
                vectorByRight = true
            } else {
                vectorWeights = try doc.floats(t["base_weights"], "\(name): base_weights")
            }
        }

        let base = nodes.count
        guard base + numNodes < Int(Int32.max) else { throw TreeModelError("the model has too many nodes") }
        nodes.reserveCapacity(base + numNodes)
        for n in 0..<numNodes {
            if left[n] == -1 {
                let me = Int32(base + n)
                if effectiveLeafSize > 1 {
                    let index = vectorByRight ? right[n] : n
                    guard index >= 0, index <= (vectorWeights.count - effectiveLeafSize) / effectiveLeafSize else {
                        throw TreeModelError("\(name): vector leaf \(n) points outside the leaf weights")
                    }
                    if vectorOffsets.count < base + n { vectorOffsets.append(contentsOf: repeatElement(0, count: base + n - vectorOffsets.count)) }
                    vectorOffsets.append(Int32(leafVectors.count))
                    leafVectors.append(contentsOf: vectorWeights[(index * effectiveLeafSize)..<((index + 1) * effectiveLeafSize)])
                }
                nodes.append(XGBNode(value: cond[n], info: XGBNode.leafBit, left: me, right: me))
                continue
            }
            guard left[n] > 0, left[n] < numNodes, right[n] > 0, right[n] < numNodes else {
                throw TreeModelError("\(name): node \(n) has children \(left[n]), \(right[n]) outside 1..<\(numNodes)")
            }
            guard splitIndex[n] >= 0, splitIndex[n] < numFeatures else {
                throw TreeModelError("\(name): node \(n) splits on feature \(splitIndex[n]) but the model has \(numFeatures) features")
            }
            var info = UInt32(splitIndex[n])
            if defaultLeft[n] != 0 { info |= XGBNode.defaultLeftBit }
            var value = cond[n]
            if splitType[n] == 1 {
                guard let set = catOfNode[n] else { throw TreeModelError("\(name): categorical node \(n) has no category set") }
                info |= XGBNode.categoricalBit
                value = Float(bitPattern: UInt32(set))
            } else if splitType[n] != 0 {
                throw TreeModelError("\(name): node \(n) has unknown split_type \(splitType[n])")
            }
            nodes.append(XGBNode(value: value, info: info, left: Int32(base + left[n]), right: Int32(base + right[n])))
        }
        // Every node reachable from the root once: no cycles, no shared children. Also the depth.
        var seen = [Bool](repeating: false, count: numNodes)
        var stack = [(0, 0)]
        seen[0] = true
        var depth = 0
        while let (n, d) = stack.popLast() {
            let node = nodes[base + n]
            if node.info & XGBNode.leafBit != 0 { depth = max(depth, d); continue }
            for c in [Int(node.left) - base, Int(node.right) - base] {
                guard !seen[c] else { throw TreeModelError("\(name): node \(c) is reached twice (the tree has a cycle)") }
                seen[c] = true
                stack.append((c, d + 1))
            }
        }
        roots.append(Int32(base))
        depths.append(Int32(depth))
        return effectiveLeafSize
    }
}
