# kserve-swift: KServe's model server as a FastCGI worker pool behind nginx.
#   make run    install what is missing, build, start the default config (conf/kserve.conf)
#   make test   unit tests (swift test) + the end-to-end suite against the real stack (nginx, workers)
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= conf/kserve.conf
VENV := .venv
PY := $(VENV)/bin/python
DEBUG_BIN := .build/debug/kserve-master
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := nginx libfcgi-dev libfcgi-bin pkg-config python3-venv python3-pip protobuf-compiler
# headless Chromium for the Swagger UI page's e2e test (Tests/e2e/test_docs.py, driven by selenium)
APT_PACKAGES += chromium chromium-driver

.PHONY: deps deps-apt build release run run-debug test test-swift test-e2e venv fuzz bench-codec bench bench-quick bench-trees bench-onnx bench-deps bench-build clean

ORT_VERSION := 1.23.2
ORT_WHEEL := onnxruntime-$(ORT_VERSION)-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
ORT_SHA256 := da44b99206e77734c5819aa2142c69e64f3b46edc3bd314f6a45a932defc0b3e
ORT_DIR := .build/onnxruntime
ORT_LIB := $(ORT_DIR)/libonnxruntime.so

## deps: install the system packages the build and the tests need (Debian), and fetch the pinned artifacts
## (the ONNX Runtime shared library).
deps: deps-apt $(ORT_LIB)

deps-apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

## The ONNX Runtime C library, from the PyPI `onnxruntime` wheel (the only reachable build of it): one pinned
## version, its sha256 checked, the .so extracted to .build/onnxruntime/ (found there by the binary at run time;
## it is loaded with dlopen, never linked). The wheel is CPython-tagged, so the download names 3.11 explicitly.
$(ORT_LIB):
	@mkdir -p $(ORT_DIR)/wheel
	@[ -f $(ORT_DIR)/wheel/$(ORT_WHEEL) ] || python3 -m pip download -q --no-deps --only-binary=:all: \
	  --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
	  -d $(ORT_DIR)/wheel onnxruntime==$(ORT_VERSION)
	echo "$(ORT_SHA256)  $(ORT_DIR)/wheel/$(ORT_WHEEL)" | sha256sum -c --quiet - || \
	  { echo "onnxruntime wheel checksum mismatch: delete $(ORT_DIR) and retry"; exit 1; }
	python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); \
	  n = "onnxruntime/capi/libonnxruntime.so.$(ORT_VERSION)"; open(sys.argv[2], "wb").write(z.read(n))' \
	  $(ORT_DIR)/wheel/$(ORT_WHEEL) $(ORT_LIB).tmp
	mv $(ORT_LIB).tmp $(ORT_LIB)

## The Swagger UI files that /docs serves (enable_docs_url), from the PyPI `swagger-ui-bundle` wheel (Apache 2.0;
## Swagger UI 4.15.5): one pinned version, its sha256 checked, the built files extracted to .build/swagger-ui/ (found
## there by the binary, see SwaggerUIAssets). Served by the workers themselves: the page needs no CDN.
SWAGGER_UI_VERSION := 1.1.0
SWAGGER_UI_WHEEL := swagger_ui_bundle-$(SWAGGER_UI_VERSION)-py3-none-any.whl
SWAGGER_UI_SHA256 := f7526f7bb99923e10594c54247265839bec97e96b0438561ac86faf40d40dd57
SWAGGER_UI_DIR := .build/swagger-ui
SWAGGER_UI_FILES := swagger-ui-bundle.js swagger-ui.css favicon-32x32.png favicon-16x16.png oauth2-redirect.html
deps: $(SWAGGER_UI_DIR)/swagger-ui-bundle.js

$(SWAGGER_UI_DIR)/swagger-ui-bundle.js:
	@mkdir -p $(SWAGGER_UI_DIR)/wheel
	@[ -f $(SWAGGER_UI_DIR)/wheel/$(SWAGGER_UI_WHEEL) ] || python3 -m pip download -q --no-deps --only-binary=:all: \
	  -d $(SWAGGER_UI_DIR)/wheel swagger-ui-bundle==$(SWAGGER_UI_VERSION)
	echo "$(SWAGGER_UI_SHA256)  $(SWAGGER_UI_DIR)/wheel/$(SWAGGER_UI_WHEEL)" | sha256sum -c --quiet - || \
	  { echo "swagger-ui-bundle wheel checksum mismatch: delete $(SWAGGER_UI_DIR) and retry"; exit 1; }
	python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); d = sys.argv[2]; \
	  [open(d + "/" + n, "wb").write(z.read("swagger_ui_bundle/vendor/swagger-ui-4.15.5/" + n)) for n in sys.argv[3:]]; \
	  open(d + "/LICENSE", "wb").write(z.read("swagger_ui_bundle-$(SWAGGER_UI_VERSION).dist-info/LICENSE"))' \
	  $(SWAGGER_UI_DIR)/wheel/$(SWAGGER_UI_WHEEL) $(SWAGGER_UI_DIR) $(SWAGGER_UI_FILES)

# Explicit products: `--build-tests` would also build every dependency's plugin tools (protoc from C++ source).
build: deps
	$(SWIFT) build --product kserve-master
	$(SWIFT) build --product kserve-example-server
	$(SWIFT) build --product kserve-swiftPackageTests

## release: the optimised binary (.build/release/kserve-master), Swift runtime linked statically.
release: deps
	$(SWIFT) build -c release --static-swift-stdlib --product kserve-master

## run: the main job on the default config (HTTP :8080 through nginx, 2 workers), on the release build (what
##   users deploy; the first build takes long on 2 cores, see README "Performance"). `make run-debug`: debug build.
run: release
	.build/release/kserve-master -c $(CONFIG)

run-debug: deps
	$(SWIFT) build --product kserve-master
	$(DEBUG_BIN) -c $(CONFIG)

$(VENV)/.stamp: Tests/e2e/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r Tests/e2e/requirements.txt
	touch $@

venv: $(VENV)/.stamp

## test: build once, then the Swift unit tests and the end-to-end suite.
E2E := KSERVE_BIN=$(CURDIR)/$(DEBUG_BIN) $(PY) -m pytest -q
test: build venv
	$(SWIFT) test --skip-build
	$(E2E) Tests/e2e

test-swift: build
	$(SWIFT) test --skip-build

test-e2e: venv
	$(SWIFT) build --product kserve-master
	$(E2E) Tests/e2e

## fuzz: libFuzzer (+ASan) on the v2 request decoders and the BYTES decoder (FUZZ_SECONDS, default 120).
FUZZ_SECONDS ?= 120
fuzz: deps
	$(SWIFT) build --product kserve-fuzz -c release --scratch-path .build-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DKSERVE_FUZZ \
	  -Xswiftc -enable-experimental-feature -Xswiftc Extern
	mkdir -p fuzz-artifacts/corpus
	.build-fuzz/release/kserve-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -rss_limit_mb=2048 \
	  -dict=Sources/kserve-fuzz/Inputs/json.dict -artifact_prefix=fuzz-artifacts/ \
	  fuzz-artifacts/corpus Sources/kserve-fuzz/Inputs/corpus

## bench-codec: codec MB/s, ours (release) against KServe 0.21's Python codec on the same payloads.
bench-codec: venv
	$(SWIFT) build -c release --product kserve-codec-bench
	.build/release/kserve-codec-bench --python $(PY)

## bench: our stack vs KServe 0.21 vs a C libfcgi responder behind the same nginx, one run (several minutes).
##   Workloads: v1, v2json, v2bin, grpc, grpc4mb (echo model) and xgb (v1 predict on the same XGBoost model from
##   ours and KServe, trained at start by Tests/bench/kserve_xgb.py; predictions checked equal; no ceiling there);
##   then, from one client for every protocol (h2load), sequential latency and 16-in-flight throughput.
##   Writes BENCHMARKS.md, Tests/bench/results/bench.png and bench.json. BENCH_ARGS passes options to the runner
##   (e.g. BENCH_ARGS="--seconds 20", "--workloads v1,v2json --concurrency 16", "--workloads xgb",
##   "--servers ours,ceiling").
## bench-quick: a ~1 minute subset (5 s runs); results go to run/bench-quick/, the committed ones stay untouched.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python
BENCH_CEILING := .build-bench/fcgi_ceiling
BENCH_RUN := $(BENCH_PY) Tests/bench/run_bench.py --bin .build/release/kserve-master \
	--loadgen .build/release/kserve-grpc-loadgen --ceiling $(BENCH_CEILING) --python $(BENCH_PY)
BENCH_ARGS ?=
# Flags for the two release builds: the Swift runtime and Foundation linked statically (about 10 MB less RSS per
# process than the shared libraries, and how a release is meant to ship). Changing them rebuilds .build/release.
BENCH_BUILD_FLAGS ?= --static-swift-stdlib

$(BENCH_VENV)/.stamp: Tests/bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q --upgrade pip
	$(BENCH_PY) -m pip install -q -r Tests/bench/requirements.txt
	touch $@

bench-deps: deps
	@missing=""; for p in wrk nghttp2-client; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

$(BENCH_CEILING): Tests/bench/fcgi_ceiling.c
	@mkdir -p $(dir $@)
	cc -O2 -Wall -o $@ $< -lfcgi

bench-build: bench-deps $(BENCH_CEILING)
	$(SWIFT) build -c release $(BENCH_BUILD_FLAGS) --product kserve-master
	@if grep -q '"kserve-grpc-loadgen"' Package.swift; then \
	  echo "$(SWIFT) build -c release $(BENCH_BUILD_FLAGS) --product kserve-grpc-loadgen"; \
	  $(SWIFT) build -c release $(BENCH_BUILD_FLAGS) --product kserve-grpc-loadgen; \
	else echo "bench: no kserve-grpc-loadgen target in Package.swift yet: the gRPC workloads will be skipped"; fi

bench: bench-build $(BENCH_VENV)/.stamp
	$(BENCH_RUN) $(BENCH_ARGS)
	$(BENCH_PY) Tests/bench/onnx_bench.py --bin .build/release/kserve-master --python $(BENCH_PY)

## bench-onnx: only the ONNX workload (Tests/bench/onnx_bench.py): an MLP, ours vs KServe 0.21 + onnxruntime.
bench-onnx: bench-build $(BENCH_VENV)/.stamp
	$(BENCH_PY) Tests/bench/onnx_bench.py --bin .build/release/kserve-master --python $(BENCH_PY)

## bench-trees: the XGBoost / LightGBM runtimes in-process (one thread) against xgboost / lightgbm in Python on the
##   same models (100 and 500 trees): load, single-row and 1,000-row predict. Tests/bench/tree_bench.py trains them.
##   The two sides take turns three times and each keeps its best figures (this machine has slow phases that last
##   longer than one side's run), then the table is printed.
bench-trees: $(BENCH_VENV)/.stamp
	$(SWIFT) build -c release $(BENCH_BUILD_FLAGS) --product kserve-tree-bench
	rm -f run/tree-bench/swift.json
	$(BENCH_PY) Tests/bench/tree_bench.py --out run/tree-bench
	.build/release/kserve-tree-bench --dir run/tree-bench --record
	for pass in 2 3; do \
	  $(BENCH_PY) Tests/bench/tree_bench.py --out run/tree-bench --time-only && \
	  .build/release/kserve-tree-bench --dir run/tree-bench --record || exit 1; done
	.build/release/kserve-tree-bench --dir run/tree-bench --table

bench-quick: bench-build $(BENCH_VENV)/.stamp
	$(BENCH_RUN) --quick --out-dir run/bench-quick $(BENCH_ARGS)

## grpc-gen: regenerate the protobuf and gRPC Swift code (commit the result). Builds protoc-gen-swift
## (swift-protobuf 1.39.0) and protoc-gen-grpc-swift-2 (grpc-swift-protobuf 2.4.1) in a scratch package, then runs
## Debian's protoc on Sources/KServeProtobuf/Protos. Messages go to KServeProtobuf, services to KServeGRPC.
GRPC_GEN_DIR ?= /tmp/kserve-grpc-gen
PROTOS := Sources/KServeProtobuf/Protos
.PHONY: grpc-gen nginx-embed
## nginx-embed: rebuild the nginx templates compiled into the binary (Sources/KServeMaster/BuiltInNginxTemplates.swift)
## from nginx/ (a unit test fails until they match).
nginx-embed:
	python3 Tests/tools/embed_nginx.py

grpc-gen: deps
	mkdir -p $(GRPC_GEN_DIR)/Sources/Dummy
	printf '%s\n' '// swift-tools-version:6.1' 'import PackageDescription' \
	  'let package = Package(name: "grpc-gen", dependencies: [' \
	  '    .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),' \
	  '    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),' \
	  '], targets: [.target(name: "Dummy")])' > $(GRPC_GEN_DIR)/Package.swift
	echo 'public let dummy = 0' > $(GRPC_GEN_DIR)/Sources/Dummy/Dummy.swift
	cd $(GRPC_GEN_DIR) && $(SWIFT) build --product protoc-gen-swift && $(SWIFT) build --product protoc-gen-grpc-swift-2
	bin=$$(cd $(GRPC_GEN_DIR) && $(SWIFT) build --show-bin-path) && \
	protoc --plugin=protoc-gen-swift=$$bin/protoc-gen-swift \
	  --plugin=protoc-gen-grpc-swift-2=$$bin/protoc-gen-grpc-swift-2 \
	  --proto_path=$(PROTOS) \
	  --swift_opt=Visibility=Public --swift_out=Sources/KServeProtobuf/Generated \
	  --grpc-swift-2_opt=Visibility=Public,Client=true,Server=true,ExtraModuleImports=KServeProtobuf \
	  --grpc-swift-2_out=Sources/KServeGRPC/Generated \
	  grpc_predict_v2.proto health.proto

clean:
	rm -rf .build .build-fuzz .build-bench $(VENV) $(BENCH_VENV) run
