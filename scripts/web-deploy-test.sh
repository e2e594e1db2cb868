#!/usr/bin/env bash
# The page hosted apart from the server, as on Vercel, and the React example, in headless Chromium
# against a real `parley serve` on the embedded engines (needs `make setup` and `swift build`):
#  1. web/build-site.mjs builds the site with PARLEY_SERVER_URL baked in (its refusals of a bad or
#     missing URL are checked first); a plain static server serves it from an allowed origin, and
#     the page, opened without ?server=, gets the transcript and plays the reply. The static
#     server has no /ws, so only the baked URL can have reached Parley.
#  2. Foreign origins are refused: the same site served from an origin not on --allowed-origins
#     reports a connection error and never gets a session; a raw handshake with
#     `Origin: http://evil.example` gets HTTP 403, one without an Origin header gets 101.
#  3. examples/react/build.sh builds the React example; served from an allowed origin with
#     ?server=, it gets the transcript and plays the reply.
# Stops only what it started (the server and the static servers), by PID; removes its temp dir.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/wait-healthy.sh

BIN="${PARLEY_BIN:-.build/debug/parley}"
PY=.venv/bin/python
[ -x "$BIN" ] || { echo "no $BIN: build it first (swift build, or make build)" >&2; exit 1; }
[ -x "$PY" ] || { echo "no .venv: run make setup first" >&2; exit 1; }
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Four distinct free ports, held open together while they are chosen.
read -r PARLEY_PORT SITE_PORT FOREIGN_PORT REACT_PORT < <("$PY" -c '
import socket
held = [socket.socket() for _ in range(4)]
for s in held: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))')
SERVER_URL="ws://127.0.0.1:$PARLEY_PORT/ws"
espeak-ng -w "$WORK/question.wav" "My name is John and I live in Paris."

echo "==> the Vercel build (web/build-site.mjs)"
expect_build_failure() {
  local what="$1" message="$2"; shift 2
  if env "$@" node web/build-site.mjs --require-server-url --out "$WORK/bad-site" >/dev/null 2>"$WORK/build.err"; then
    echo "build-site.mjs accepted $what" >&2; exit 1
  fi
  grep -q "$message" "$WORK/build.err" || { cat "$WORK/build.err"; echo "no clear message for $what" >&2; exit 1; }
}
expect_build_failure "a missing PARLEY_SERVER_URL" "PARLEY_SERVER_URL is not set" -u PARLEY_SERVER_URL
expect_build_failure "an https:// URL" "must start with wss://" PARLEY_SERVER_URL=https://parley.example.com/ws
expect_build_failure "a URL with credentials" "must not hold credentials" PARLEY_SERVER_URL=wss://user:secret@parley.example.com/ws
PARLEY_SERVER_URL="$SERVER_URL" node web/build-site.mjs --require-server-url --out "$WORK/site"
# The page's choice of server, in the built modules and in the source tree: ?server= > baked > own host.
node --input-type=module - "$WORK/site" "$PWD/web" "$SERVER_URL" <<'JS'
const [built, source, baked] = process.argv.slice(2);
const page = { search: "", protocol: "https:", host: "app.example" };
const checks = [
    [built, page, baked],
    [built, { ...page, search: "?server=wss://other.example/ws" }, "wss://other.example/ws"],
    [source, page, "wss://app.example/ws"],
    [source, { ...page, protocol: "http:" }, "ws://app.example/ws"],
];
for (const [dir, location, expected] of checks) {
    const { serverUrlFor } = await import(`${dir}/client.js`);
    const got = serverUrlFor(location);
    if (got !== expected) throw new Error(`${dir}: ${location.protocol}//${location.host}/${location.search} chose ${got}, not ${expected}`);
}
console.log("server URL precedence: ok (?server= > baked config.js > the page's own host)");
JS
echo "==> the React example (examples/react/build.sh)"
bash examples/react/build.sh "$WORK/react"

# Debug logs: the refusals at the handshake are logged with the origin.
"$BIN" serve --port "$PARLEY_PORT" --stt local --llm local --tts local --log-level debug \
  --allowed-origins "http://127.0.0.1:$SITE_PORT,http://127.0.0.1:$REACT_PORT" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
SERVER_PID=$!
for dir_port in "site:$SITE_PORT" "site:$FOREIGN_PORT" "react:$REACT_PORT"; do
  "$PY" -m http.server --bind 127.0.0.1 "${dir_port#*:}" --directory "$WORK/${dir_port%%:*}" >"$WORK/static-${dir_port#*:}.log" 2>&1 &
  PIDS+=($!)
done
wait_healthy "$PARLEY_PORT" "$SERVER_PID" "$WORK/server.log"
for port in "$SITE_PORT" "$FOREIGN_PORT" "$REACT_PORT"; do
  curl -fsS --retry 20 --retry-delay 0 --retry-all-errors --max-time 2 "http://127.0.0.1:$port/index.html" >/dev/null \
    || { echo "the static server on port $port never answered" >&2; exit 1; }
done

# browser NAME PAGE ARGS…: drives PAGE in Chromium; prints the summary's gist, or the logs and fails.
browser() {
  local name="$1" page="$2"; shift 2
  echo "==> Chromium: $name"
  if ! "$PY" tests/browser/browser_test.py --page "$page" --wav "$WORK/question.wav" "$@" >"$WORK/$name.json"; then
    cat "$WORK/$name.json"; echo "--- server log (last 30 lines) ---"; tail -n 30 "$WORK/server.log"
    echo "browser check '$name' failed" >&2; exit 1
  fi
}
# heard NAME: the transcript of the question has its key words (Whisper tiny may mishear others).
heard() {
  "$PY" - "$WORK/$1.json" "$1" <<'PY'
import json, sys
result = json.loads([line for line in open(sys.argv[1]) if line.strip().startswith("{")][-1])
finals = " ".join(result["finals"]).lower()
assert "john" in finals and "paris" in finals, f"the transcript lacks the key words: {result['finals']}"
assert result["played_samples"] > 0, "no agent audio played"
print(f"{sys.argv[2]}: ok in {result['elapsed_s']} s (heard {result['finals']}, "
      f"replied {[text[:60] for text in result['agent_texts']]}, played {result['played_samples']} samples)")
PY
}

browser vercel-site "http://127.0.0.1:$SITE_PORT/?mic=raw" --timeout 90
heard vercel-site

browser foreign-origin "http://127.0.0.1:$FOREIGN_PORT/?mic=raw" --expect refused --timeout 30
"$PY" - "$WORK/foreign-origin.json" <<'PY'
import json, sys
result = json.loads([line for line in open(sys.argv[1]) if line.strip().startswith("{")][-1])
# Chromium logs the handshake's status: a refusal, not a server that is down.
assert any("403" in line for line in result["console_errors"]), f"no 403 in the console: {result['console_errors']}"
print(f"foreign-origin: ok, refused ({'; '.join(result['scenario']['errors'])}; "
      f"statuses {result['status_history']}; console: {' | '.join(result['console_errors'])[:200]})")
PY

echo "==> raw WebSocket handshakes"
"$PY" - "$SERVER_URL" <<'PY'
import asyncio, sys
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

async def status(url, origin):
    try:
        async with connect(url, origin=origin, open_timeout=10):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code

url = sys.argv[1]
foreign, none = asyncio.run(status(url, "http://evil.example")), asyncio.run(status(url, None))
assert foreign == 403, f"Origin: http://evil.example got {foreign}, not 403"
assert none == 101, f"a handshake without Origin got {none}, not 101"
print(f"handshakes: ok (Origin: http://evil.example → {foreign}, no Origin → {none})")
PY

browser react-example "http://127.0.0.1:$REACT_PORT/?server=$SERVER_URL&mic=raw" --expect transcript-and-audio --timeout 90
heard react-example
grep -q '"GET /capture-worklet.js' "$WORK/static-$REACT_PORT.log" && grep -q '"GET /playback-worklet.js' "$WORK/static-$REACT_PORT.log" \
  || { cat "$WORK/static-$REACT_PORT.log"; echo "the React example did not load its worklets from beside app.js" >&2; exit 1; }
echo "web deploy: ok"
