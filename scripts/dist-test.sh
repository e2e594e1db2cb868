#!/usr/bin/env bash
# Checks the release bundle (`make dist`) as an operator meets it:
#  1. `bin/parley --help` and `--version` run in a bare environment (env -i) from another
#     directory, `ldd` shows no Swift toolchain library (the runtime is linked statically), and
#     jemalloc is the allocator;
#  2. `parley serve`, started from an empty directory in a bare environment, serves the bundle's
#     web/ and answers /health/live and /health/ready; after `scripts/setup.sh --engines-only` in
#     the bundle (what the Docker image does) it finds and starts the embedded engines too;
#  3. the graceful drain (tests/lifecycle/drain_test.py): after SIGTERM the open socket hears the
#     reply out, readiness answers 503, new sockets are refused, the socket closes with
#     going_away/1001 and the process exits 0.
# Stops only the servers it started, by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd -P)"

bash scripts/dist.sh
VERSION="$(.build/release/parley --version)"
BUNDLE="$ROOT/dist/parley-${VERSION}-linux-$(uname -m)"
PARLEY="$BUNDLE/bin/parley"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "dist test: $*" >&2; [ -f "$WORK/server.log" ] && tail -n 40 "$WORK/server.log" >&2; exit 1; }

for path in bin/parley web/index.html web/config.js web/client.js web/capture-worklet.js web/playback-worklet.js engines/whisper_server.py engines/supervise.py scripts/setup.sh README.md; do
  [ -e "$BUNDLE/$path" ] || fail "the bundle lacks $path"
done
# Every module of the browser client (client.js imports the others) and of the React hook.
for module in web/*.js web/react/*.js; do
  [ -e "$BUNDLE/$module" ] || fail "the bundle lacks $module"
done
(cd "$WORK" && env -i PATH=/usr/bin:/bin "$PARLEY" --help >"$WORK/help.txt") || fail "bin/parley --help failed in a bare environment"
grep -q "serve" "$WORK/help.txt" || fail "--help does not list serve"
[ "$(cd "$WORK" && env -i PATH=/usr/bin:/bin "$PARLEY" --version)" = "$VERSION" ] || fail "--version differs from the bundle's name"
if env -i PATH=/usr/bin:/bin "$PARLEY" bench overhead >/dev/null 2>&1; then fail "the shipped parley still has the bench subcommand"; fi
# The test fakes live in the ParleyTesting module; none of its code may be linked in.
if grep -q "ParleyTesting" "$PARLEY"; then fail "bin/parley contains ParleyTesting code (test fakes)"; fi
ldd "$PARLEY" >"$WORK/ldd.txt" || true
if grep -Ei 'swift|libFoundation|libdispatch|libBlocksRuntime|/opt/swift|not found' "$WORK/ldd.txt"; then
  fail "bin/parley links Swift toolchain libraries or misses one (above)"
fi
# jemalloc serves the process's allocations: it initialises on the first malloc it serves, and
# prints its statistics at exit only then.
if ! env -i PATH=/usr/bin:/bin MALLOC_CONF=stats_print:true "$PARLEY" --version 2>&1 | grep -q "Begin jemalloc statistics"; then
  fail "bin/parley does not allocate with jemalloc"
fi
echo "bundle: ok ($(du -sh "$BUNDLE" | cut -f1), bin/parley $(du -h "$PARLEY" | cut -f1), needs $(readelf -d "$PARLEY" | sed -n "s/.*NEEDED.*\[\(.*\)\]/\1/p" | tr "\n" " "))"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || fail "parley serve exited"
    sleep 0.2
  done
  fail "parley serve never became ready"
}
stop_server() {
  kill -TERM "$SERVER_PID"
  local status=0
  wait "$SERVER_PID" || status=$?
  SERVER_PID=""
  [ "$status" -eq 0 ] || fail "parley serve exited with $status after SIGTERM"
}

# 2a. No engines: the stages point at an unused URL; PORT and HOST come from the environment.
PORT="$(free_port)"
UNUSED="http://127.0.0.1:$(free_port)/v1"
(cd "$WORK" && exec env -i PATH=/usr/bin:/bin PORT="$PORT" HOST=127.0.0.1 "$PARLEY" serve --stt local --stt-url "$UNUSED" \
  --llm local --llm-url "$UNUSED" --tts espeak) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$PORT"
curl -fsS "http://127.0.0.1:$PORT/" | grep -qi "<html" || fail "GET / did not serve the bundle's web/index.html"
curl -fsS "http://127.0.0.1:$PORT/health/live" | grep -q '"live"' || fail "/health/live"
curl -fsS "http://127.0.0.1:$PORT/health/ready" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["status"]=="ready" and d["sessions"]==0 and d["max_sessions"]==200, d' \
  || fail "/health/ready did not report ready with sessions and max_sessions"
stop_server
echo "serve from an empty directory, bare environment, PORT/HOST from the environment: ok"

# 2b. The embedded engines as the Docker image gets them: `scripts/setup.sh --engines-only` inside
# the bundle (about 30 s with the machine's wheel and pip caches), then `parley serve` from another
# directory finds them beside its executable.
bash "$BUNDLE/scripts/setup.sh" --engines-only >"$WORK/setup.log" 2>&1 || { tail -n 30 "$WORK/setup.log"; fail "setup.sh --engines-only failed in the bundle"; }
[ -f "$BUNDLE/.venv/parley-engines.json" ] || fail "setup.sh --engines-only wrote no .venv/parley-engines.json in the bundle"
grep -q "\"$BUNDLE/engines/whisper_server.py\"" "$BUNDLE/.venv/parley-engines.json" || fail "the bundle's engine layout does not point at its own engines/"
PORT="$(free_port)"
(cd "$WORK" && exec env -i PATH=/usr/bin:/bin "$PARLEY" serve --port "$PORT") >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
wait_ready "$PORT"
curl -fsS "http://127.0.0.1:$PORT/health" | grep -q 'local-llama' || fail "/health does not show the local engines"
# A spoken turn on the optimised binary: release builds have failed where debug ones did not (a
# task-local bound in a reply crashed every release reply, 2026-12-04).
espeak-ng -w "$WORK/question.wav" "What is the capital of France?"
"$PARLEY" talk --url "ws://127.0.0.1:$PORT/ws" --wav "$WORK/question.wav" --timeout 120 >"$WORK/talk.json" \
  || { tail -n 20 "$WORK/server.log"; fail "a spoken turn against the bundle's parley serve failed"; }
python3 -c 'import json,sys; t=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]; assert t and t[0]["reply"].strip(), t' "$WORK/talk.json" \
  || fail "the spoken turn got no reply: $(cat "$WORK/talk.json")"
kill -0 "$SERVER_PID" 2>/dev/null || fail "parley serve exited during the spoken turn"
stop_server
echo "scripts/setup.sh --engines-only in the bundle, then serve with the engines found beside the executable, and a spoken turn: ok"

# 3. The graceful drain, on the bundle's binary.
"$ROOT/.venv/bin/python" tests/lifecycle/drain_test.py --parley "$PARLEY"
