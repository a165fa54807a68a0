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
APT_PACKAGES := nginx libfcgi-dev libfcgi-bin pkg-config python3-venv protobuf-compiler

.PHONY: deps build release run test test-swift test-e2e venv fuzz bench-codec clean

## deps: install the system packages the build and the tests need (Debian).
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

build: deps
	$(SWIFT) build --build-tests

release: deps
	$(SWIFT) build -c release --product kserve-master

## run: the main job on the default config (HTTP :8080 through nginx, 2 workers).
run: deps
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
	$(E2E) Tests/e2e --ignore=Tests/e2e/test_grpc.py

test-swift: build
	$(SWIFT) test --skip-build

test-e2e: venv
	$(SWIFT) build --product kserve-master
	$(E2E) Tests/e2e --ignore=Tests/e2e/test_grpc.py

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

clean:
	rm -rf .build .build-fuzz $(VENV) run
