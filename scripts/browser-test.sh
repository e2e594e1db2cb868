#!/usr/bin/env bash
# Chromium end to end: starts `parley serve` on a free port with the embedded engines, plays an
# espeak-ng question into the page's fake microphone, and checks the page got a transcript and
# played the reply. Stops the server it started, by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN=.build/debug/parley
[ -x "$BIN" ] || swift build --product parley
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
espeak-ng -w "$WORK/question.wav" "My name is John and I live in Paris."

"$BIN" serve --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do
  if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; echo "parley serve exited" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null || { cat "$WORK/server.log"; echo "parley serve never became healthy" >&2; exit 1; }

if ! .venv/bin/python tests/browser/browser_test.py --page "http://127.0.0.1:$PORT/" --wav "$WORK/question.wav" --timeout 90 >"$WORK/result.json"; then
  cat "$WORK/result.json"; tail -n 30 "$WORK/server.log"; exit 1
fi
cat "$WORK/result.json"
.venv/bin/python - "$WORK/result.json" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip().startswith("{")]
result = json.loads(lines[-1])
text = json.dumps(result).lower()
assert "john" in text and "paris" in text, "transcript lacks the key words"
print("browser end to end: ok")
PY
