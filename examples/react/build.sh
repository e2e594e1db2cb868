#!/usr/bin/env bash
# Builds the React example into a static site: app.js (app.jsx, useVoiceAgent and the web client
# bundled by esbuild with Debian's React 18), index.html, web/style.css, and the two audio
# worklets beside app.js (the client loads them by URL, so they cannot be bundled).
#
#   bash examples/react/build.sh [OUT_DIR]      # default examples/react/dist (ignored by git)
#
# Needs Debian's esbuild, node-react and node-react-dom (scripts/setup.sh installs them).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WEB="$HERE/../../web"
OUT="${1:-$HERE/dist}"

command -v esbuild >/dev/null || { echo "esbuild not found: apt-get install esbuild node-react node-react-dom" >&2; exit 1; }
# esbuild resolves bare imports ("react") through NODE_PATH; Debian keeps Node libraries here.
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"
[ -f "$NODE_PATH/react/package.json" ] && [ -f "$NODE_PATH/react-dom/package.json" ] \
  || { echo "React not found in $NODE_PATH: apt-get install node-react node-react-dom (or set NODE_PATH)" >&2; exit 1; }

mkdir -p "$OUT"
esbuild "$HERE/app.jsx" --bundle --format=esm --target=es2022 --jsx=automatic --minify --sourcemap \
  --define:process.env.NODE_ENV='"production"' --outfile="$OUT/app.js" --log-level=warning
cp "$HERE/index.html" "$WEB/style.css" "$WEB/capture-worklet.js" "$WEB/playback-worklet.js" "$OUT/"
echo "built $OUT: $(cd "$OUT" && ls | tr '\n' ' ')($(du -k "$OUT/app.js" | cut -f1) KB app.js)"
