# Sourced by the test scripts: wait_healthy PORT PID LOG waits (up to 2 minutes) for
# `parley serve` with process PID to answer /health on PORT; if it exits or never becomes
# healthy, prints LOG and exits 1.
wait_healthy() {
  local port="$1" pid="$2" log="$3"
  for _ in $(seq 1 600); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "parley serve exited" >&2; exit 1; }
    sleep 0.2
  done
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { cat "$log"; echo "parley serve never became healthy" >&2; exit 1; }
}
