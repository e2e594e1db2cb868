"""Structural check of the Dockerfile and .dockerignore (no Docker engine is needed or used).

Fails when a stage, the build argument, the scripts the stages run, the non-root user, the port,
the health check or the command stop matching what Parley, `make dist` and setup.sh provide.
"""

from __future__ import annotations

import re
from pathlib import Path

from deploycheck import REPO, Problems, dockerignore_matcher, read_dockerfile

ENGINE_VARIANTS = ("embedded", "cloud")


def main() -> None:
    p = Problems("dockerfile")
    dockerfile = read_dockerfile(REPO / "Dockerfile")
    stages = dockerfile.stages
    names = {s.name for s in stages if s.name}

    # The build argument and the stage each value picks.
    p.expect(dockerfile.global_args.get("PARLEY_ENGINES") == "embedded",
             "a global `ARG PARLEY_ENGINES=embedded` (before the first FROM) is missing")
    selector = next((s for s in stages if "${PARLEY_ENGINES}" in s.base or "$PARLEY_ENGINES" in s.base), None)
    if p.expect(selector is not None, "no stage is chosen by PARLEY_ENGINES (FROM engines-${PARLEY_ENGINES})"):
        for variant in ENGINE_VARIANTS:
            base = selector.base.replace("${PARLEY_ENGINES}", variant).replace("$PARLEY_ENGINES", variant)
            p.expect(base in names, f"PARLEY_ENGINES={variant} selects stage {base!r}, which does not exist")

    # Builder: the Swift image, `make dist`, the bundle at /opt/parley.
    builder = dockerfile.stage("builder")
    if p.expect(builder is not None, "no stage named builder"):
        p.expect(builder.base == "swift:6.3-bookworm", f"builder is FROM {builder.base}, not swift:6.3-bookworm")
        p.expect(re.search(r"\bmake dist\b", builder.runs()), "builder does not run `make dist`")
        p.expect(re.search(r"^dist:", (REPO / "Makefile").read_text(), re.M), "the Makefile has no dist target")
        p.expect((REPO / "scripts/dist.sh").is_file(), "scripts/dist.sh (run by make dist) is missing")
        p.expect(re.search(r"mv \S+ /opt/parley\b", builder.runs()), "builder does not move the bundle to /opt/parley")
        apt = builder.runs()
        for package in ("libespeak-ng-dev", "libjemalloc-dev", "pkg-config"):
            p.expect(package in apt, f"builder does not install {package} (make dist needs it)")

    # Engines: setup.sh --engines-only at the bundle's path, on the runtime's base image.
    runtime = stages[-1] if stages else None
    embedded = dockerfile.stage("engines-embedded")
    setup = REPO / "scripts/setup.sh"
    if p.expect(embedded is not None, "no stage named engines-embedded"):
        p.expect(re.search(r"scripts/setup\.sh --engines-only", embedded.runs()),
                 "engines-embedded does not run scripts/setup.sh --engines-only")
        p.expect(setup.is_file() and "--engines-only)" in setup.read_text(),
                 "scripts/setup.sh is missing or has no --engines-only option")
        copies = [c.args.split() for c in embedded.all("COPY")]
        p.expect(["scripts/setup.sh", "/opt/parley/scripts/setup.sh"] in copies,
                 "setup.sh is not copied to /opt/parley/scripts/ (it builds the venv in the directory above its scripts/)")
        p.expect(["scripts/fetch_model.py", "/opt/parley/scripts/fetch_model.py"] in copies,
                 "fetch_model.py is not copied beside setup.sh (setup.sh fetches the local LLM with it)")
        p.expect(["engines/", "/opt/parley/engines/"] in copies,
                 "engines/ is not copied to /opt/parley/engines/ (setup.sh writes those paths into parley-engines.json)")
        if runtime is not None:
            p.expect(embedded.base == runtime.base,
                     f"engines-embedded is FROM {embedded.base} but the runtime is FROM {runtime.base}: "
                     "the venv needs the same /usr/bin/python3")
        p.expect("PARLEY_PYTHON=/usr/bin/python3" in embedded.runs(),
                 "engines-embedded does not pin PARLEY_PYTHON=/usr/bin/python3 (the runtime's interpreter)")
    cloud = dockerfile.stage("engines-cloud")
    if p.expect(cloud is not None, "no stage named engines-cloud"):
        p.expect(not cloud.all("RUN"), "engines-cloud builds something; the cloud image carries no engines")

    # Runtime.
    uid = None
    if p.expect(runtime is not None and len(stages) >= 3, "fewer than three stages (builder, engines, runtime)"):
        p.expect(runtime.base == "debian:bookworm-slim", f"the runtime is FROM {runtime.base}, not debian:bookworm-slim")
        runs = runtime.runs()
        install = re.search(r"apt-get install[^&|;]*", runs)
        installed = install.group(0) if install else ""
        for package in ("libespeak-ng1", "libjemalloc2", "ca-certificates", "curl", "tini"):
            p.expect(re.search(rf"(^|\s){re.escape(package)}(\s|$)", installed),
                     f"the runtime does not install {package}")
        p.expect(not re.search(r"(^|\s)python3(\s|$)", installed), "python3 is installed unconditionally (cloud has no engines)")
        p.expect(re.search(r'embedded\)\s*extra="[^"]*\bpython3\b', runs), "the embedded variant does not add python3")
        p.expect(re.search(r'cloud\)\s*extra=""', runs), "the cloud variant adds packages")
        p.expect(re.search(r"\*\)[^;]*;\s*exit 1", runs), "an unknown PARLEY_ENGINES value does not fail the build")
        p.expect("PARLEY_ENGINES" in [a.args.split("=")[0] for a in runtime.all("ARG")],
                 "the runtime stage does not declare ARG PARLEY_ENGINES")
        copies = [c.args.split() for c in runtime.all("COPY")]
        p.expect(["--from=builder", "/opt/parley", "/opt/parley"] in copies, "the bundle is not copied to /opt/parley")
        p.expect(["--from=engines", "/opt/parley/", "/opt/parley/"] in copies,
                 "the engines are not copied to the same path (/opt/parley/.venv; venvs are not relocatable)")

        user = runtime.last("USER")
        if p.expect(user is not None, "no USER in the runtime stage (it would run as root)"):
            name = user.args.split(":")[0]
            p.expect(name.isdigit(), f"USER {user.args} is not numeric (Kubernetes' runAsNonRoot cannot verify a name)")
            p.expect(name not in ("0", "root"), f"USER {user.args} is root")
            uid = int(name) if name.isdigit() else None
            p.expect(uid is None or re.search(rf"useradd[^&]*--uid {uid}\b", runs), f"no user with uid {uid} is created")

        exposed = [w for e in runtime.all("EXPOSE") for w in e.args.split()]
        p.expect(exposed == ["8080"], f"EXPOSE is {exposed}, expected 8080")
        env = " ".join(e.args for e in runtime.all("ENV"))
        p.expect(re.search(r"\bPORT=8080\b", env), "ENV PORT=8080 is missing (parley serve reads PORT)")
        p.expect(re.search(r"\bPATH=/opt/parley/bin:\$PATH\b", env), "ENV PATH=/opt/parley/bin:$PATH is missing")

        health = runtime.last("HEALTHCHECK")
        if p.expect(health is not None, "no HEALTHCHECK"):
            p.expect("/health/live" in health.args, "the HEALTHCHECK does not hit /health/live")
            p.expect(re.search(r"\bCMD curl\b", health.args), "the HEALTHCHECK does not use curl (the tool installed)")
            p.expect(re.search(r"127\.0\.0\.1:(\$\{PORT:-8080\}|8080)/", health.args),
                     "the HEALTHCHECK does not target the served port (${PORT:-8080})")
        cmd = runtime.last("CMD")
        p.expect(cmd is not None and cmd.json_args() == ["parley", "serve", "--host", "0.0.0.0"],
                 f'CMD is {cmd.args if cmd else None}, expected ["parley", "serve", "--host", "0.0.0.0"]')
        entrypoint = runtime.last("ENTRYPOINT")
        p.expect(entrypoint is not None and entrypoint.json_args() == ["/usr/bin/tini", "--"],
                 "ENTRYPOINT is not tini (PID 1 that forwards SIGTERM and reaps engine processes)")

    # Every COPY source exists and is in the build context; every --from names a stage.
    ignored = dockerignore_matcher()
    for stage in stages:
        for copy in stage.all("COPY"):
            words = copy.args.split()
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            source_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if source_stage is not None:
                p.expect(source_stage in names, f"line {copy.line}: COPY --from={source_stage}: no such stage")
                continue
            for source in paths[:-1]:
                if source == ".":
                    continue
                p.expect((REPO / source).exists(), f"line {copy.line}: COPY {source}: not in the repository")
                p.expect(not ignored(Path(source.rstrip("/"))), f"line {copy.line}: COPY {source} is excluded by .dockerignore")

    # Modal builds this file too: no BuildKit-only syntax.
    for stage in stages:
        for instruction in stage.instructions:
            p.expect("--mount=" not in instruction.args, f"line {instruction.line}: RUN --mount (BuildKit only)")
            p.expect("<<" not in instruction.args, f"line {instruction.line}: a heredoc (BuildKit only)")

    # .dockerignore keeps build outputs, venvs and secrets out; keeps what `make dist` builds from.
    for path in (".build/release/parley", ".venv/bin/python", ".venv-deploy/bin/python", "dist/x", ".git/HEAD",
                 ".env", ".swiftpm/x", "engines/__pycache__/x.pyc"):
        p.expect(ignored(Path(path)), f".dockerignore lets {path} into the build context")
    for path in ("Package.swift", "Makefile", "Sources/parley/Serve.swift", "Tests", "scripts/dist.sh",
                 "scripts/setup.sh", "engines/whisper_server.py", "web/index.html"):
        p.expect(not ignored(Path(path)), f".dockerignore excludes {path}, which the build needs")

    p.finish(lambda: f"{len(stages)} stages: {', '.join(s.name or s.base for s in stages)}; "
             f"USER {uid}, EXPOSE 8080, HEALTHCHECK /health/live, PARLEY_ENGINES={'|'.join(ENGINE_VARIANTS)}")


if __name__ == "__main__":
    main()
