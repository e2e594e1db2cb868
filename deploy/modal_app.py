"""Parley on Modal: `modal deploy deploy/modal_app.py` is the whole deploy.

Before the first deploy, create the secret the containers read their keys from:

    modal secret create parley DEEPGRAM_API_KEY=… GROQ_API_KEY=… ELEVENLABS_API_KEY=…

Each container runs one `parley serve` behind `@modal.web_server`; Modal's proxy passes WebSockets
through, so `/ws` (browser) and `/twilio` (phone) work at the endpoint's URL, as do `/`,
`/health/ready` and `/metrics`. More callers means more containers: Modal's autoscaler adds them
by concurrent inputs (one WebSocket session is one input). See docs/deploy.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import modal

REPO = Path(__file__).resolve().parent.parent

# The image is the repository's own Dockerfile, built by Modal with the cloud-only variant (no
# Python engines: a Modal container uses Deepgram, Groq and ElevenLabs). Building it on Modal
# needs no local Docker, no registry and no `make dist` beforehand, so `modal deploy` is the
# whole deploy, and Modal's image is the one `docker build` makes. The cost: the first deploy
# compiles Parley on Modal's builder (several minutes; later deploys reuse cached layers until a
# source changes). Adding a locally built bundle to `Image.debian_slim()` would deploy faster but
# need `make dist` on a Linux x86_64 machine first and could ship a stale bundle.
DOCKERFILE = REPO / "Dockerfile"
BUILD_ARGS = {"PARLEY_ENGINES": "cloud"}

image = (
    modal.Image.from_dockerfile(
        DOCKERFILE,
        context_dir=REPO,  # .dockerignore there keeps .build, .venv, dist and .env out of the upload
        build_args=BUILD_ARGS,
        # Modal's runtime is Python; the cloud image has none. Same minor version as the deployer.
        add_python=f"{sys.version_info.major}.{sys.version_info.minor}",
    )
    # Modal starts its own process, as root (the app's code is mounted under /root); the
    # Dockerfile's tini entry point and non-root USER are for Docker and Kubernetes. Modal's
    # gVisor sandbox isolates the container.
    .entrypoint([])
    .dockerfile_commands("USER root")
)

PORT = 8080

# Capacity (BENCHMARKS.md, `parley-bench capacity`): 237 concurrent real-time sessions passed
# (p99 overhead ≤ 50 ms) on one 2-core machine that also ran the load generator and the fake
# providers; Parley itself used 0.20 s of CPU per session-minute (0.74 of a core at 225 sessions).
# 237 / 2 cores ≈ 118 sessions per core; 100 per core keeps a margin for what the bench leaves
# out (TLS to the real providers, bursts of turns).
SESSIONS_PER_CORE = 100
CORES = 2.0
MAX_SESSIONS = int(CORES * SESSIONS_PER_CORE)  # 200: Modal's per-container limit = Parley's --max-sessions
# The autoscaler aims at 75 % of that, so a container is rarely refused a session while a new one
# starts; it may burst to MAX_SESSIONS.
TARGET_SESSIONS = MAX_SESSIONS * 3 // 4  # 150

# Modal gives @modal.exit 30 s before it kills a container. Parley's drain takes up to
# --drain-timeout plus 5 s to close the sessions it cut off, plus 3 s for connections still open:
# 20 + 5 + 3 = 28 s, inside the 30.
DRAIN_TIMEOUT_S = 20
MODAL_EXIT_GRACE_S = 30
PARLEY_CLOSE_GRACE_S = 5 + 3
# 256 MiB: Parley's RSS is ~40 MB plus ~0.25 MB per idle session (BENCHMARKS.md) — about 90 MB
# at 200 sessions — with room for replies in flight. Limit at 1 GiB.
MEMORY_MIB = (256, 1024)
# One WebSocket session is one input: a call longer than this is cut.
SESSION_LIMIT_S = 3600

app = modal.App("parley")


def serve_command(environment: dict[str, str]) -> list[str]:
    """The `parley serve` command line for a Modal container with `environment` (the secret)."""
    command = [
        "/opt/parley/bin/parley", "serve",
        "--host", "0.0.0.0",
        "--port", str(PORT),
        "--max-sessions", str(MAX_SESSIONS),
        "--drain-timeout", str(DRAIN_TIMEOUT_S),
    ]
    # This image has no local engines, so speech-to-text must be a cloud one: without a Deepgram
    # key, Groq's Whisper (same key as the LLM) rather than the missing local Whisper.
    if not environment.get("DEEPGRAM_API_KEY", "").strip() and environment.get("GROQ_API_KEY", "").strip():
        command += ["--stt", "groq-whisper"]
    return command


@app.cls(
    image=image,
    secrets=[modal.Secret.from_name("parley")],
    cpu=CORES,
    memory=MEMORY_MIB,
    timeout=SESSION_LIMIT_S,
    startup_timeout=120,
)
@modal.concurrent(max_inputs=MAX_SESSIONS, target_inputs=TARGET_SESSIONS)
class Parley:
    """One `parley serve` per container, started with the container and drained when it stops."""

    @modal.enter()
    def start(self) -> None:
        # Its own session: Modal's signals to this process group must not reach Parley before
        # stop() asks it to drain.
        self.process = subprocess.Popen(serve_command(dict(os.environ)), start_new_session=True)

    @modal.web_server(PORT, startup_timeout=60)
    def serve(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"parley serve exited with status {self.process.returncode}; its log is above")

    @modal.exit()
    def stop(self) -> None:
        # Readiness turns 503 and new sessions are refused at once; open sessions hear out their
        # reply, get going_away and a 1001 close; Parley exits 0.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=DRAIN_TIMEOUT_S + PARLEY_CLOSE_GRACE_S + 1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
