"""Offline check of deploy/modal_app.py with the pinned Modal client (modal==1.6.4).

Imports the app with every socket refused and no Modal credentials (nothing logs in or reaches
Modal), then checks what `modal deploy` would register: the web endpoint, per-container
concurrency equal to Parley's --max-sessions and sized from the measured sessions per core, the
`parley` secret, the port, the drain inside Modal's exit grace, and the files the image build
would upload (the build context after .dockerignore).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import tempfile
import warnings
from pathlib import Path

from deploycheck import REPO, SESSIONS_PER_CORE, Problems, close_grace, option, read_dockerfile

MODAL_VERSION = "1.6.4"
# Modal kills a container this long after its @modal.exit handler starts.
MODAL_EXIT_GRACE_S = 30


def refuse_network() -> None:
    def refuse(*_args, **_kwargs):
        raise RuntimeError("the Modal check tried to reach the network")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.getaddrinfo = refuse  # type: ignore[assignment]


def unwrap(obj):
    """The implementation object behind Modal's synchronicity wrapper."""
    return next(v for k, v in vars(obj).items() if k.startswith("_sync_original"))


def main() -> None:
    p = Problems("modal")
    # No credentials: a config file and token variables that do not exist.
    home = tempfile.mkdtemp(prefix="parley-modal-check-")
    os.environ["HOME"] = home
    os.environ["MODAL_CONFIG_PATH"] = os.path.join(home, "absent.toml")
    for key in [k for k in os.environ if k.startswith("MODAL_TOKEN")]:
        del os.environ[key]
    refuse_network()

    import modal
    from modal._image import AUTO_DOCKERIGNORE, _create_context_mount_function
    from modal._partial_function import _PartialFunctionFlags

    p.expect(modal.__version__ == MODAL_VERSION, f"modal {modal.__version__} is installed, the check is for {MODAL_VERSION}")

    spec = importlib.util.spec_from_file_location("modal_app", REPO / "deploy/modal_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = module.app
    p.expect(isinstance(app, modal.App) and app.name == "parley", "deploy/modal_app.py defines no modal.App named parley")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in 1.6 (removed in 1.7); still the listing `modal deploy` uses
        endpoints = list(app.registered_web_endpoints)
        functions = dict(app.registered_functions)
        classes = dict(app.registered_classes)
    p.expect(endpoints == ["Parley.serve"], f"registered web endpoints are {endpoints}, expected ['Parley.serve']")

    service = functions.get("Parley.*")
    cls = classes.get("Parley")
    if not p.expect(service is not None and cls is not None, "no Modal class Parley"):
        p.finish()
    info = unwrap(service)._function_info
    user_cls = unwrap(cls)._user_cls
    concurrency = info.concurrency_info

    # Concurrency: sessions per core × cores = Modal's per-container limit = Parley's --max-sessions.
    cores = info.cpu if isinstance(info.cpu, (int, float)) else info.cpu[0]
    p.expect(concurrency is not None and concurrency.max_inputs == round(cores * SESSIONS_PER_CORE),
             f"max_inputs is {concurrency and concurrency.max_inputs}, expected {SESSIONS_PER_CORE} per core × {cores} cores")
    p.expect(concurrency is not None and concurrency.target_inputs and concurrency.target_inputs < concurrency.max_inputs,
             "target_inputs is not below max_inputs (the autoscaler would add containers only when they are full)")
    command = module.serve_command({"DEEPGRAM_API_KEY": "x", "GROQ_API_KEY": "x"})
    p.expect(concurrency is not None and option(command, "--max-sessions") == str(concurrency.max_inputs),
             f"parley serve --max-sessions {option(command, '--max-sessions')} differs from max_inputs")
    p.expect(info.secrets == ["modal.Secret.from_name('parley')"], f"secrets are {info.secrets}, expected the one named parley")
    p.expect(info.memory_mib, "no memory size")

    # The web server: the port Parley listens on, the Dockerfile's port, reachable on every interface.
    hooks = {name: unwrap(value) for name, value in vars(user_cls).items() if type(value).__name__ == "PartialFunction"}
    web = hooks.get("serve")
    config = web.params.webhook_config if web is not None else None
    p.expect(config is not None and config.web_server_port == module.PORT,
             f"@modal.web_server port is {config and config.web_server_port}, Parley's --port is {module.PORT}")
    dockerfile = read_dockerfile(REPO / "Dockerfile")
    exposed = [w for e in dockerfile.stages[-1].all("EXPOSE") for w in e.args.split()]
    p.expect([str(module.PORT)] == exposed, f"the Modal port {module.PORT} is not the Dockerfile's EXPOSE {exposed}")
    p.expect(option(command, "--port") == str(module.PORT) and option(command, "--host") == "0.0.0.0",
             "parley serve does not listen on 0.0.0.0 at the web_server port")

    # Graceful stop: an exit hook that drains within Modal's grace.
    stop = hooks.get("stop")
    start = hooks.get("start")
    p.expect(stop is not None and stop.flags & _PartialFunctionFlags.EXIT, "no @modal.exit hook named stop")
    p.expect(start is not None and start.flags & _PartialFunctionFlags.ENTER_POST_SNAPSHOT, "no @modal.enter hook named start")
    drain = int(option(command, "--drain-timeout") or 30)
    grace = close_grace()
    if p.expect(grace is not None, "ServerLifecycle.closeGrace or HTTPServerService.closeLimit not found in the Swift sources; update tests/deploy"):
        p.expect(drain + grace < MODAL_EXIT_GRACE_S,
                 f"--drain-timeout {drain} + {grace} s close grace is not inside Modal's {MODAL_EXIT_GRACE_S} s exit grace")

    # The cloud image has no local engines: speech-to-text falls to Groq's Whisper without Deepgram.
    p.expect(option(module.serve_command({"GROQ_API_KEY": "k"}), "--stt") == "groq-whisper",
             "with only GROQ_API_KEY, speech-to-text is not groq-whisper")
    p.expect(option(command, "--stt") is None, "with DEEPGRAM_API_KEY set, --stt is forced")

    # The image: the repository's Dockerfile, cloud variant, the stage that value selects.
    p.expect(Path(module.DOCKERFILE) == REPO / "Dockerfile", f"the image is built from {module.DOCKERFILE}")
    p.expect(module.BUILD_ARGS == {"PARLEY_ENGINES": "cloud"}, f"build args are {module.BUILD_ARGS}")
    p.expect(dockerfile.stage("engines-cloud") is not None, "the Dockerfile has no engines-cloud stage")

    # What `modal deploy` uploads for the build: the context after .dockerignore, as Modal computes it.
    mount = _create_context_mount_function(AUTO_DOCKERIGNORE, dockerfile_path=Path(module.DOCKERFILE),
                                           context_dir=REPO)("2025.06")
    files = sorted(str(Path(local).relative_to(REPO)) for entry in mount.entries for local, _ in entry.get_files_to_upload())
    size = sum((REPO / f).stat().st_size for f in files)
    for prefix in (".build", ".venv", ".git/", "dist/", ".swiftpm"):
        leaked = [f for f in files if f.startswith(prefix)]
        p.expect(not leaked, f"the Modal build upload includes {prefix}… ({len(leaked)} files, e.g. {leaked[:1]})")
    p.expect(not [f for f in files if f == ".env" or f.startswith(".env.")], "the Modal build upload includes a .env file")
    for needed in ("Package.swift", "Makefile", "scripts/dist.sh", "scripts/setup.sh", "engines/whisper_server.py",
                   "engines/supervise.py", "Sources/parley/Serve.swift", "web/index.html"):
        p.expect(needed in files, f"the Modal build upload lacks {needed}")
    p.expect(size < 50 * 1024 * 1024, f"the Modal build upload is {size / 1e6:.0f} MB; is something large not ignored?")

    p.finish(lambda: f"modal {modal.__version__}, no network; endpoint {endpoints[0]}, port {module.PORT}, "
             f"max_inputs {concurrency.max_inputs} (target {concurrency.target_inputs}) on {cores:g} cores, "
             f"secret parley, drain {drain}+{grace} s < {MODAL_EXIT_GRACE_S} s, upload {len(files)} files {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
