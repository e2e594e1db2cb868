#!/usr/bin/env bash
# Checks the deployment files without Docker, Modal or a cluster:
#  1. the Dockerfile and .dockerignore (stages, build argument, the scripts they run, non-root
#     USER, EXPOSE 8080, HEALTHCHECK on /health/live, CMD) — tests/deploy/check_dockerfile.py;
#  2. deploy/modal_app.py imported with the pinned Modal client and no network: the web endpoint,
#     concurrency, secret, port, drain and build upload — tests/deploy/check_modal.py;
#  3. deploy/kubernetes/*.yaml: probes, ports, grace period, Secret, user, HPA —
#     tests/deploy/check_kubernetes.py;
#  4. .env.example lists every variable the sources read, secrets empty — tests/deploy/check_env_example.py.
# Its own virtualenv, .venv-deploy (pinned modal and PyYAML from PyPI), is made once and reused.
# Prints one "ok" line per check; exits non-zero if any check fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv-deploy
PINS=("modal==1.6.4" "PyYAML==6.0.4")
STAMP="$VENV/.deploy-test-stamp"
PYTHON_BIN="${PARLEY_PYTHON:-python3}"

if ! { [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "${PINS[*]}" ]; }; then
  echo "==> creating $VENV (${PINS[*]})"
  rm -rf "$VENV"
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"
  printf '%s' "${PINS[*]}" >"$STAMP"
fi

failed=0
for check in check_dockerfile check_modal check_kubernetes check_env_example; do
  "$VENV/bin/python" "tests/deploy/$check.py" || failed=1
done
exit "$failed"
