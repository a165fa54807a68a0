import KServeProtocol

/// Pool-wide desired model states, shared by every worker process (see `KServeWorker.SharedModelStates`).
///
/// The worker that serves a load or unload publishes the new state; every other worker compares ``generation``
/// before serving a request and converges first, so all workers agree once the call has returned.
public protocol ModelStateStore: Sendable {
    /// A counter bumped on every publish; cheap to read on every request.
    var generation: UInt64 { get }
    /// The desired states: model name -> loaded.
    func desiredStates() -> [String: Bool]
    /// Records a new desired state for a model and bumps ``generation``.
    func publish(model: String, loaded: Bool)
}

/// The registry of models a server answers for (the seed's `ModelRepository`), in registration order.
///
/// A name may be an alias of another model object. Unloaded models are remembered so that a later
/// `load` brings them back, but they answer as absent (404), as KServe's repository does after `unload`.
public final class ModelRepository: Sendable {
    private struct Entry: Sendable {
        var name: String
        var model: BaseKServeModel
        var unloaded: Bool
    }
    private let entries = Locked<[Entry]>([])
    private let resolver = Locked<ModelResolver?>(nil)
    private let seenGeneration = Locked<UInt64>(0)
    /// Where model files live by default (`/mnt/models` in KServe).
    public let modelsDirectory: String

    public init(modelsDirectory: String = "/mnt/models") {
        self.modelsDirectory = modelsDirectory
    }

    /// Builds a model that was not known at start from its name (multi-model serving: KServe's model agent puts
    /// `<model_dir>/<name>` on disk, then calls load). Throws ``KServeError``: modelNotFound when there is nothing
    /// of that name, invalidInput when its files are of no known format.
    public typealias ModelResolver = @Sendable (String) throws -> BaseKServeModel

    /// Sets how ``load(_:)`` finds a model it does not know (`nil`: unknown names are not found).
    public func setResolver(_ resolve: ModelResolver?) {
        resolver.value = resolve
    }

    /// Registers `model` under `name` (default: the model's name), replacing any model of that name.
    public func update(_ model: BaseKServeModel, name: String? = nil) {
        let key = name ?? model.name
        entries.withLock { list in
            if let i = list.firstIndex(where: { $0.name == key }) {
                list[i] = Entry(name: key, model: model, unloaded: false)
            } else {
                list.append(Entry(name: key, model: model, unloaded: false))
            }
        }
    }

    /// Serves the model registered under `old` under `new` instead (`--model_name` for a model registered in
    /// code under another name).
    public func rename(_ old: String, to new: String) {
        entries.withLock { list in
            guard let i = list.firstIndex(where: { $0.name == old }) else { return }
            list.removeAll { $0.name == new }
            if let j = list.firstIndex(where: { $0.name == old }) { list[j].name = new }
            _ = i
        }
    }

    /// The model registered under `name`, or `nil` when absent or unloaded.
    public func model(named name: String) -> BaseKServeModel? {
        entries.withLock { list in list.first { $0.name == name && !$0.unloaded }?.model }
    }

    /// Names and models currently served (not unloaded), in registration order.
    public var models: [(name: String, model: BaseKServeModel)] {
        entries.withLock { list in list.filter { !$0.unloaded }.map { ($0.name, $0.model) } }
    }

    /// Whether a model is known at all (loaded or unloaded).
    public func isKnown(_ name: String) -> Bool {
        entries.withLock { list in list.contains { $0.name == name } }
    }

    /// The seed's `is_model_ready`: false when absent, else the model's `healthy()`.
    public func isModelReady(_ name: String) async -> Bool {
        guard let model = model(named: name) else { return false }
        return await model.healthy()
    }

    /// Loads (or re-loads) a known model: calls `load()` (and `start()`), marks it served.
    /// - Throws: ``KServeError`` modelNotFound for an unknown name, modelNotReady with the reason when loading fails.
    public func load(_ name: String) async throws {
        var known = entries.withLock({ list in list.first { $0.name == name }?.model })
        if known == nil, let resolve = resolver.value {
            let built = try resolve(name)
            update(built, name: name)
            known = built
        }
        guard let model = known else {
            throw KServeError.modelNotFound(name)
        }
        setUnloaded(name, false)
        if !(await model.healthy()) {
            do {
                try await model.load()
                try await model.start()
                if model.engine { try await model.startEngine() }
            } catch {
                model.ready = false
                model.notReadyReason = "\(error)"
                throw KServeError.modelNotReady(name, detail: "\(error)")
            }
        }
        guard await model.healthy() else { throw KServeError.modelNotReady(name, detail: model.notReadyReason) }
    }

    /// Unloads a model: `stop()` (and `stopEngine()`), then it answers as absent.
    /// - Throws: ``KServeError`` modelNotFound when it is not served.
    public func unload(_ name: String) async throws {
        guard let model = model(named: name) else { throw KServeError.modelNotFound(name) }
        setUnloaded(name, true)
        // Stop the object only if no other served name still points at it.
        let stillAliased = entries.withLock { list in list.contains { !$0.unloaded && $0.model === model } }
        if !stillAliased {
            await model.stop()
            if model.engine { await model.stopEngine() }
        }
    }

    private func setUnloaded(_ name: String, _ value: Bool) {
        entries.withLock { list in
            for i in list.indices where list[i].name == name { list[i].unloaded = value }
        }
    }

    /// Brings this process's models in line with the pool-wide desired states, if they changed since last time.
    public func converge(with store: any ModelStateStore) async {
        let generation = store.generation
        guard seenGeneration.value != generation else { return }
        seenGeneration.value = generation
        let canResolve = resolver.value != nil
        for (name, loaded) in store.desiredStates() where isKnown(name) || (loaded && canResolve) {
            let served = model(named: name) != nil
            let readyNow = served ? await isModelReady(name) : false
            if loaded && !readyNow {
                try? await load(name)
            } else if !loaded && served {
                try? await unload(name)
            }
        }
    }

    /// Marks the current generation as seen (a worker that just booted loaded everything itself).
    public func adoptGeneration(of store: any ModelStateStore) {
        seenGeneration.value = store.generation
    }
}
