"""Shared by the deployment checks (scripts/deploy-test.sh): the repository, a Dockerfile reader,
the figures the deployment files are sized from, and a collector of problems."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# BENCHMARKS.md, `parley-bench capacity` on 2 cores: 237 sessions pass; Parley's CPU per
# session-minute. The deployment files admit 100 sessions per core.
SESSIONS_PER_CORE = 100
CPU_SECONDS_PER_SESSION_MINUTE = 0.20


class Problems:
    """Collects every failed expectation of one check, then reports them together."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.items: list[str] = []

    def expect(self, condition: object, message: str) -> bool:
        if not condition:
            self.items.append(message)
        return bool(condition)

    def finish(self, summary: Callable[[], str] = lambda: "") -> None:
        """Exits 1 listing the problems, if any; else prints one ok line with `summary()`."""
        if self.items:
            for item in self.items:
                print(f"{self.name}: FAIL: {item}", file=sys.stderr)
            sys.exit(1)
        print(f"{self.name}: ok ({summary()})")


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str

    def json_args(self) -> list[str] | None:
        """The exec (JSON array) form of CMD/ENTRYPOINT, or None for the shell form."""
        try:
            value = json.loads(self.args)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass
class Stage:
    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def runs(self) -> str:
        return "\n".join(i.args for i in self.all("RUN"))


@dataclass
class Dockerfile:
    global_args: dict[str, str | None]
    stages: list[Stage]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


def read_dockerfile(path: Path) -> Dockerfile:
    """Instructions by stage, continuation lines joined and comment lines dropped (as Docker does)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        text = " ".join(p for p in pending if p)
        pending = []
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(start, keyword.upper(), args.strip()))
    global_args: dict[str, str | None] = {}
    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, instruction.line))
        elif not stages:
            if instruction.keyword == "ARG":
                key, eq, value = instruction.args.partition("=")
                global_args[key.strip()] = value.strip().strip('"') if eq else None
        else:
            stages[-1].instructions.append(instruction)
    return Dockerfile(global_args, stages)


def swift_seconds(relative: str, pattern: str) -> int | None:
    """An integer of seconds in a Swift source (e.g. a default `Duration`), or None."""
    match = re.search(pattern, (REPO / relative).read_text())
    return int(match.group(1)) if match else None


def drain_timeout_default() -> int | None:
    """`parley serve`'s --drain-timeout default."""
    return swift_seconds("Sources/parley/Serve.swift", r"var drainTimeout\s*=\s*(\d+)")


def close_grace() -> int | None:
    """What Parley may take after the drain timeout: the sessions it cut off get
    ServerLifecycle.closeGrace to close, then the connections still open get HTTPServerService's
    closeLimit."""
    sessions = swift_seconds("Sources/ParleyServer/ServerLifecycle.swift", r"closeGrace:\s*Duration\s*=\s*\.seconds\((\d+)\)")
    connections = swift_seconds("Sources/ParleyServer/ParleyServer.swift", r"closeLimit:\s*Duration\s*=\s*\.seconds\((\d+)\)")
    return None if sessions is None or connections is None else sessions + connections


def option(args: list[str], name: str) -> str | None:
    """The value after `name` in an argument list, or None."""
    if name in args and args.index(name) + 1 < len(args):
        return args[args.index(name) + 1]
    return None


def dockerignore_matcher():
    """The .dockerignore as Modal reads it for the image build's upload (Docker's rules)."""
    from modal.file_pattern_matcher import FilePatternMatcher

    return FilePatternMatcher(*(REPO / ".dockerignore").read_text().splitlines())
