# Parley's container image. Stages, each running the same scripts as `make dist` and `make test`:
#
#   builder           swift:6.3-bookworm: `make dist` -> the release bundle, moved to /opt/parley
#   engines-embedded  scripts/setup.sh --engines-only -> /opt/parley/.venv (Whisper, llama.cpp)
#   engines-cloud     nothing: the cloud-only image carries no local engines
#   runtime           debian:bookworm-slim, the bundle (+ .venv), a non-root user
#
#   docker build -t parley .                                  # embedded offline engines (default)
#   docker build -t parley:cloud --build-arg PARLEY_ENGINES=cloud .
#   docker run --rm -p 8080:8080 --env-file .env --stop-timeout 40 parley
#
# No BuildKit-only syntax (cache mounts, heredocs): Modal builds this file too
# (deploy/modal_app.py, with PARLEY_ENGINES=cloud).

# embedded | cloud
ARG PARLEY_ENGINES=embedded

FROM swift:6.3-bookworm AS builder
# What `make dist` needs beyond the toolchain (espeak-ng's headers, found through pkg-config;
# libcurl's, which the static Foundation networking of the MCP SDK's HTTP transport links;
# jemalloc, the release build's allocator).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libespeak-ng-dev libcurl4-openssl-dev libjemalloc-dev pkg-config make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make dist \
 && set -- dist/parley-*-linux-"$(uname -m)" \
 && [ "$#" -eq 1 ] && [ -x "$1/bin/parley" ] \
 && mv "$1" /opt/parley

# The engines are built apart from the Swift code so that a source change does not rebuild
# llama.cpp (~10 min): this stage depends only on setup.sh and the engine launchers. Same base
# image as the runtime, so the venv's interpreter (/usr/bin/python3, 3.11) is the one it runs on;
# same path (/opt/parley/.venv), since a venv is not relocatable.
FROM debian:bookworm-slim AS engines-embedded
# llama.cpp compiles for the build machine's CPU by default (-march=native): an image built on an
# AVX-512 host would die with SIGILL elsewhere. GGML_NATIVE=OFF targets AVX2/FMA/F16C instead.
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
COPY scripts/setup.sh /opt/parley/scripts/setup.sh
COPY scripts/fetch_model.py /opt/parley/scripts/fetch_model.py
COPY engines/ /opt/parley/engines/
RUN CMAKE_ARGS="$LLAMA_CMAKE_ARGS" PARLEY_PYTHON=/usr/bin/python3 bash /opt/parley/scripts/setup.sh --engines-only

FROM debian:bookworm-slim AS engines-cloud
WORKDIR /opt/parley

FROM engines-${PARLEY_ENGINES} AS engines

FROM debian:bookworm-slim AS runtime
ARG PARLEY_ENGINES
# libespeak-ng1: the in-process voice (the fallback even when ElevenLabs speaks); libjemalloc2:
# the allocator the release build links (2-8 % less CPU per session than glibc's); ca-certificates:
# TLS to Deepgram, Groq and ElevenLabs; curl: the HEALTHCHECK; tini: PID 1 that forwards SIGTERM
# and reaps orphaned engine processes. The embedded engines add the venv's python3 and libgomp1
# (llama.cpp's OpenMP).
RUN case "$PARLEY_ENGINES" in \
      embedded) extra="python3 libgomp1" ;; \
      cloud) extra="" ;; \
      *) echo "PARLEY_ENGINES must be embedded or cloud, not '$PARLEY_ENGINES'" >&2; exit 1 ;; \
    esac \
 && apt-get update \
 && apt-get install -y --no-install-recommends libespeak-ng1 libjemalloc2 ca-certificates curl tini $extra \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 parley \
 && useradd --uid 10001 --gid parley --create-home --home-dir /home/parley --shell /usr/sbin/nologin parley
COPY --from=builder /opt/parley /opt/parley
COPY --from=engines /opt/parley/ /opt/parley/
ENV PATH=/opt/parley/bin:$PATH \
    PORT=8080
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /opt/parley
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT:-8080}/health/live" || exit 1
ENTRYPOINT ["/usr/bin/tini", "--"]
# SIGTERM drains (replies heard out, going_away, 1001) for up to --drain-timeout (30 s) plus 5 s:
# stop with `docker stop -t 40` or run with `--stop-timeout 40` (Docker's default is 10 s).
CMD ["parley", "serve", "--host", "0.0.0.0"]
