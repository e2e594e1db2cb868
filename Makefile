# Parley — the two commands are `make run` and `make test`; both run `make setup` first.
SHELL := /bin/bash
PORT ?= 8080
HOST ?= 127.0.0.1
ARGS ?=
FUZZ_SECONDS ?= 60
# The local LLM that setup installs and run serves: large (default), small, or both (setup only).
LOCAL_LLM ?=

.PHONY: setup build release dist run test lint test-swift test-fuzz test-web test-e2e test-offline test-agents test-soak test-web-deploy test-deploy fuzz test-sanitizers clean

## Installs everything Parley needs on Debian 12 (idempotent; fast when done).
setup:
	@bash scripts/setup.sh $(if $(LOCAL_LLM),--local-llm $(LOCAL_LLM))

build: setup
	@echo "==> swift build (debug)"
	swift build

# Release builds link the Swift runtime statically, as the bundle does, so `make run` and
# `make dist` share one build.
release: setup
	@echo "==> swift build -c release --static-swift-stdlib (first time: several minutes)"
	swift build -c release --static-swift-stdlib --product parley

## Builds the relocatable release bundle dist/parley-<version>-linux-<arch>/ (bin/parley, web/, engines/).
## Needs only the Swift toolchain, libespeak-ng-dev and pkg-config: the Dockerfile's builder runs it.
dist:
	@bash scripts/dist.sh

## Builds and starts Parley on the embedded offline engines at http://$(HOST):$(PORT)/
run: release
	.build/release/parley serve --host $(HOST) --port $(PORT) $(if $(filter small large,$(LOCAL_LLM)),--local-llm $(LOCAL_LLM)) $(ARGS)

## Runs every test: Swift units, sessions, server, real engines end to end, a short fuzzing run, web types,
## Chromium, parley talk, five spoken questions to the offline default, a short soak under provider faults, the release bundle, the drain, and the
## deployment files.
test: setup lint test-swift test-fuzz test-web test-e2e test-offline test-agents test-soak test-web-deploy test-deploy

## Checks the Swift sources against .swift-format (swift-format ships with the toolchain; ~4 s).
## `swift format format -i -r Sources Tests Fuzz Package.swift` fixes what it reports.
lint:
	@echo "==> swift format lint --strict"
	swift format lint --strict -r Sources Tests Fuzz Package.swift

# In parallel (Swift Testing's default), at most two tests per core at once: many tests drive real
# sockets against fakes that keep real time (Twilio's 20 ms media, Deepgram's idle timeout), and
# with all 400 in flight on 2 cores those fakes starve. Session and barge-in tests need no such
# care: they run on a manual clock. The timeout turns any hang into a failure instead of a stuck CI.
test-swift:
	@echo "==> swift test (in parallel, $$(( $$(nproc) * 2 )) at a time)"
	swift build --build-tests
	SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=$$(( $$(nproc) * 2 )) timeout -k 10 600 swift test --skip-build

# 10 s of libFuzzer on each decoder of outside input, after the instrumented build (about 75 s
# from clean on 2 cores; BENCHMARKS.md): under 3 minutes in all.
test-fuzz:
	@echo "==> libFuzzer: 10 s on each decoder of outside input"
	bash scripts/fuzz.sh 10

## Fuzzes each decoder of outside input for FUZZ_SECONDS (default 60) seconds; new inputs are kept
## in .build-fuzz/corpus/ for the next run.
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

## swift test under AddressSanitizer, then ThreadSanitizer, each in its own build directory (not
## part of `make test`: 20–30 minutes from clean on 2 cores, 5 once built; BENCHMARKS.md).
test-sanitizers: setup
	bash scripts/sanitizers-test.sh

# Also: the capture worklet's resampling and anti-aliasing filter in Node (well under a second), and
# no module of the browser client or the examples over 500 lines (kept small enough to read).
test-web:
	@echo "==> tsc --checkJs on web/, the React hook (web/react/) and the React example"
	tsc -p web/tsconfig.json
	tsc -p web/react/tsconfig.json
	tsc -p examples/react/tsconfig.json
	@echo "==> the capture worklet in Node: bit-exact at 16 kHz, low-pass before downsampling"
	node tests/web/capture_worklet_test.mjs
	@echo "==> the client's event validation in Node: turn.end's end_of_turn"
	node tests/web/protocol_test.mjs
	@echo "==> no JavaScript module over 500 lines"
	@find web examples \( -name dist -o -name node_modules \) -prune -o \( -name '*.js' -o -name '*.mjs' -o -name '*.jsx' \) -print \
	  | xargs wc -l | awk '$$2 != "total" && $$1 > 500 { print $$2 ": " $$1 " lines (over 500)"; over = 1 } END { exit over }'

test-e2e:
	@echo "==> Chromium and parley talk end to end against parley serve"
	bash scripts/e2e-test.sh

# The offline default as a user meets it: the local voice engine's API (every error case, streaming,
# a client that goes away), then five questions spoken in the hibari voice through `parley talk`:
# at least 4 answered right, none over 40 words (latency is reported, not asserted: BENCHMARKS.md).
test-offline:
	@echo "==> engines/speech_server.py against its API tests"
	.venv/bin/python tests/engines/speech_server_test.py --python .venv/bin/python
	@echo "==> five spoken questions to the offline default"
	@[ -x .build/debug/parley ] || swift build --product parley
	.venv/bin/python tests/quality/offline_quality.py --parley .build/debug/parley --questions 5 --check

# With the provider chains (deepgram,local groq,local elevenlabs,local): the soak's verdict must
# pass too, every turn answered by a provider, a fallback or an apology.
# An agent that acts, on the embedded engines: spoken questions make the local LLM call a webhook
# and a real MCP stdio server (tests/mcp/orders_server.py) through `parley serve --agent`; the tools
# must get the right arguments, the replies must carry their results, and no MCP server may outlive
# Parley.
test-agents:
	@echo "==> an agent file with a webhook and an MCP server, spoken to through parley talk"
	@[ -x .build/debug/parley ] || swift build --product parley
	.venv/bin/python tests/agents/agent_e2e.py --parley .build/debug/parley

test-soak:
	@echo "==> parley-bench soak (0.2 min, sessions churning while the fake providers fail at random)"
	bash scripts/soak-test.sh --with-chains

test-web-deploy:
	@echo "==> the Vercel site and the React example in Chromium against parley serve; foreign origins refused"
	bash scripts/web-deploy-test.sh

test-deploy:
	@echo "==> the release bundle in a bare environment, and the drain on SIGTERM"
	bash scripts/dist-test.sh
	@echo "==> the Dockerfile, the Modal app (imported offline), the Kubernetes manifests and .env.example"
	bash scripts/deploy-test.sh

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan dist
