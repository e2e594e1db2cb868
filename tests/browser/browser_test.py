#!/usr/bin/env python3
"""Drive the Parley web client in headless Chromium with a WAV file as the microphone.

    python tests/browser/browser_test.py --page http://127.0.0.1:8080/ --wav /abs/question.wav [--timeout 60]
    python tests/browser/browser_test.py --serve web --server ws://127.0.0.1:8080/ws --wav /abs/question.wav
    python tests/browser/browser_test.py --page … --wav question.wav --expect pause-resume --burst-ms 120 --gap 3
    python tests/browser/browser_test.py --page … --wav question.wav --expect ignored --burst-ms 600 --gap 3
    python tests/browser/browser_test.py --page … --wav question.wav --expect interrupt --then-wav stop.wav --gap 3

With `--serve DIR` the driver serves the page itself on a free loopback port and points it at
`--server` (`?server=…`), for servers that do not serve `web/`.

The WAV is converted to 16-bit mono (16 or 48 kHz kept, other rates resampled to 48 kHz), padded
with 1 s of silence before (Chromium's fake capture loses the first ~50 ms) and 3 s after (so the
server's VAD sees the end of speech), and played once (`%noloop`) as Chromium's fake microphone.
The page is opened with `?autostart=1` and `window.parleyState` is polled over the DevTools
protocol until a turn has ended, agent audio has played and the latency waterfall shows the turn.
Prints one JSON summary line on stdout; exits 0 on success, 1 otherwise. Needs `chromium` (Debian)
and `websockets` (PyPI).

Speech over the reply (see `scenarios.py`): `--burst-ms` or `--then-wav` adds a second sound
`--gap` seconds after the question's end (the reply should be playing by then), and `--expect`
says what the page must show: `pause-resume` (a short burst pauses the reply, which resumes and
plays on) or `interrupt` (a second sentence interrupts it and becomes a second turn).

Other pages: `--expect transcript-and-audio` needs no latency waterfall (the React example);
`--expect refused` passes when the server refuses the page's WebSocket (a foreign origin).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import base64
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import wave
from pathlib import Path
from typing import Any

from scenarios import EXPECTATIONS, TestFailure, noise_burst

try:
    import websockets
except ImportError:  # pragma: no cover - environment problem, reported clearly
    print("browser_test.py needs the 'websockets' package (pip install websockets)", file=sys.stderr)
    sys.exit(1)

LEAD_SILENCE_S = 1.0
TAIL_SILENCE_S = 3.0


# ------------------------------------------------------------------------------------------------
# WAV preparation


def _read_pcm16_mono(path: Path) -> tuple[array.array, int]:
    """Reads a PCM WAV as 16-bit mono samples and its rate; falls back to sox for other formats."""
    try:
        with wave.open(str(path), "rb") as source:
            channels = source.getnchannels()
            width = source.getsampwidth()
            rate = source.getframerate()
            frames = source.readframes(source.getnframes())
    except (wave.Error, EOFError) as error:
        return _read_with_sox(path, error)
    if width == 2:
        samples = array.array("h", frames)
    elif width == 1:  # unsigned 8-bit
        samples = array.array("h", ((b - 128) << 8 for b in frames))
    elif width in (3, 4):
        step = width
        samples = array.array("h", (int.from_bytes(frames[i + step - 2:i + step], "little", signed=True)
                                    for i in range(0, len(frames), step)))
    else:
        return _read_with_sox(path, ValueError(f"{width}-byte samples"))
    if sys.byteorder != "little":
        samples.byteswap()
    if channels > 1:
        mono = array.array("h", bytes(2 * (len(samples) // channels)))
        for i in range(len(mono)):
            total = 0
            for c in range(channels):
                total += samples[i * channels + c]
            mono[i] = int(total / channels)
        samples = mono
    return samples, rate


def _read_with_sox(path: Path, reason: Exception) -> tuple[array.array, int]:
    sox = shutil.which("sox")
    if not sox:
        raise TestFailure(f"cannot read {path} ({reason}) and sox is not installed to convert it")
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / "converted.wav"
        result = subprocess.run([sox, str(path), "-b", "16", "-c", "1", "-r", "48000", "-e", "signed-integer", str(converted)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise TestFailure(f"sox could not convert {path}: {result.stderr.strip()}")
        return _read_pcm16_mono(converted)


def _resample(samples: array.array, rate: int, target: int) -> array.array:
    """Linear-interpolation resampling; enough for a test microphone."""
    count = int(len(samples) * target / rate)
    out = array.array("h", bytes(2 * count))
    step = rate / target
    last = len(samples) - 1
    for i in range(count):
        position = i * step
        j = int(position)
        fraction = position - j
        a = samples[j]
        b = samples[j + 1] if j < last else a
        out[i] = int(a + (b - a) * fraction)
    return out


def prepare_wav(source: Path, destination: Path, follow_up: Path | None = None, burst_s: float = 0,
                gap_s: float = 0) -> dict[str, Any]:
    """Writes the padded 16-bit mono capture file; returns what was done.

    With `follow_up` (a WAV) or `burst_s` (a noise burst), that sound follows the question after
    `gap_s` seconds of silence.
    """
    samples, rate = _read_pcm16_mono(source)
    if rate not in (16000, 48000):
        samples = _resample(samples, rate, 48000)
        rate = 48000
    lead = array.array("h", bytes(2 * int(rate * LEAD_SILENCE_S)))
    tail = array.array("h", bytes(2 * int(rate * TAIL_SILENCE_S)))
    second = array.array("h")
    if follow_up is not None:
        second, second_rate = _read_pcm16_mono(follow_up)
        if second_rate != rate:
            second = _resample(second, second_rate, rate)
    elif burst_s > 0:
        second = noise_burst(rate, burst_s)
    gap = array.array("h", bytes(2 * int(rate * gap_s))) if len(second) else array.array("h")
    padded = lead + samples + gap + second + tail
    if sys.byteorder != "little":
        padded.byteswap()
    with wave.open(str(destination), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(padded.tobytes())
    described = {"sample_rate": rate, "speech_s": round(len(samples) / rate, 3), "total_s": round(len(padded) / rate, 3)}
    if len(second):
        described |= {"gap_s": gap_s, "follow_up_s": round(len(second) / rate, 3)}
    return described


# ------------------------------------------------------------------------------------------------
# Serving the page (--serve)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html"}

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def serve_directory(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serves `directory` on a free loopback port in a background thread; returns the server and its URL."""
    if not (directory / "index.html").is_file():
        raise TestFailure(f"{directory} has no index.html")
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


# ------------------------------------------------------------------------------------------------
# Chromium and the DevTools protocol


def page_url_with_autostart(page: str) -> str:
    """The page URL with `autostart=1` added; the existing query is kept as written."""
    parts = urllib.parse.urlsplit(page)
    kept = [item for item in parts.query.split("&") if item and item.split("=", 1)[0] != "autostart"]
    return urllib.parse.urlunsplit(parts._replace(query="&".join(kept + ["autostart=1"])))


def launch_chromium(binary: str, wav: Path, profile: Path, log: Path) -> subprocess.Popen:
    args = [
        binary,
        "--headless",
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "about:blank",
    ]
    # A new session makes Chromium's PID the process group id, so its helpers can be ended with it.
    # Its output goes to a file: a pipe nobody reads would fill up and stall the browser.
    with open(log, "wb") as output:
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_chromium(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # helpers (renderer, GPU, audio) left behind
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def wait_for_devtools_port(profile: Path, process: subprocess.Popen, log: Path, timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise TestFailure(f"Chromium exited with status {process.returncode} before DevTools opened: {output}")
        try:
            lines = marker.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        except FileNotFoundError:
            pass
        time.sleep(0.1)
    raise TestFailure(f"Chromium did not write {marker} within {timeout:.0f} s")


def page_websocket_url(port: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as response:
                targets = json.load(response)
            for target in targets:
                if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
                    return target["webSocketDebuggerUrl"]
        except OSError:
            pass
        time.sleep(0.1)
    raise TestFailure("Chromium's DevTools listed no page target")


class DevTools:
    """A minimal CDP client over one page's WebSocket."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 1
        self.pending: dict[int, asyncio.Future] = {}
        self.console_errors: list[str] = []
        self.console_warnings: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                message = json.loads(raw)
                if "id" in message:
                    future = self.pending.pop(message["id"], None)
                    if future and not future.done():
                        future.set_result(message)
                else:
                    self._on_event(message.get("method", ""), message.get("params", {}))
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(TestFailure("the DevTools connection closed"))

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_object_text(arg) for arg in params.get("args", []))
            kind = params.get("type")
            if kind in ("error", "assert"):
                self.console_errors.append(text)
            elif kind == "warning":
                self.console_warnings.append(text)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            text = exception.get("description") or details.get("text", "exception")
            self.console_errors.append(f"uncaught: {text} ({details.get('url', '')}:{details.get('lineNumber', '?')})")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.console_errors.append(f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip())

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10) -> dict[str, Any]:
        ident = self.next_id
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        await self.socket.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise TestFailure(f"DevTools {method} failed: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise TestFailure(f"evaluating {expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    async def close(self) -> None:
        self.reader.cancel()
        await self.socket.close()


def _remote_object_text(obj: dict[str, Any]) -> str:
    if "value" in obj:
        return str(obj["value"])
    return str(obj.get("description") or obj.get("type", ""))


# ------------------------------------------------------------------------------------------------
# The test


async def drive(page_url: str, port: int, timeout: float, summary: dict[str, Any], expectation: Any,
                screenshot: Path | None = None) -> dict[str, Any]:
    """Opens the page and polls `window.parleyState`; returns the final state or raises TestFailure."""
    ws_url = page_websocket_url(port, 10)
    async with websockets.connect(ws_url, max_size=None, open_timeout=10) as socket:
        devtools = DevTools(socket)
        summary["_devtools"] = devtools
        try:
            return await _poll(devtools, page_url, timeout, summary, expectation)
        finally:
            if screenshot is not None:
                try:
                    shot = await devtools.call("Page.captureScreenshot", {"format": "png"})
                    screenshot.write_bytes(base64.b64decode(shot["data"]))
                except (TestFailure, KeyError, OSError, asyncio.TimeoutError) as error:
                    print(f"screenshot failed: {error}", file=sys.stderr)


async def _poll(devtools: DevTools, page_url: str, timeout: float, summary: dict[str, Any],
                expectation: Any) -> dict[str, Any]:
    await devtools.call("Runtime.enable")
    await devtools.call("Log.enable")
    await devtools.call("Page.enable")
    navigation = await devtools.call("Page.navigate", {"url": page_url})
    if navigation.get("errorText"):
        raise TestFailure(f"could not open {page_url}: {navigation['errorText']}")

    deadline = time.monotonic() + timeout
    state: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        raw = await devtools.evaluate("JSON.stringify(window.parleyState ?? null)")
        state = json.loads(raw) if isinstance(raw, str) else None
        summary["_state"] = state
        if state:
            if state.get("status") == "error" and not getattr(expectation, "expects_error", False):
                errors = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in state.get("errors", []))
                raise TestFailure(f"the client failed: {errors or 'status error'}")
            if expectation.update(state):
                return state
        await asyncio.sleep(0.25)
    if expectation.accept_on_timeout() and state is not None:
        return state
    raise TestFailure(expectation.timeout_message(state or {}, timeout))


def build_summary(ok: bool, message: str, state: dict[str, Any] | None, devtools: DevTools | None,
                  extra: dict[str, Any]) -> dict[str, Any]:
    state = state or {}
    rate = state.get("outputSampleRate") or 0
    played = state.get("playedSamples", 0)
    return {
        "ok": ok,
        "message": message,
        **extra,
        "status": state.get("status"),
        "status_history": state.get("statusHistory", []),
        "session_id": state.get("sessionId"),
        "providers": state.get("providers"),
        "finals": state.get("finals", []),
        "agent_texts": state.get("agentTexts", []),
        "played_samples": played,
        "played_seconds": round(played / rate, 3) if rate else None,
        "output_sample_rate": rate or None,
        "interruptions": state.get("interruptions", []),
        "pauses": state.get("pauses", []),
        "resumes": state.get("resumes", []),
        "errors": state.get("errors", []),
        "turns": [{"turn_id": t.get("turn_id"), "interrupted": t.get("interrupted"), "text": t.get("text"),
                   "timeline": t.get("timeline")} for t in state.get("turnEnds", [])],
        "capture": state.get("stats"),
        "waterfall": [{"turn_id": row.get("turnId"), "total_ms": row.get("totalMs"), "interrupted": row.get("interrupted"),
                       "stages": row.get("stages")} for row in state.get("waterfall") or []],
        "console_errors": devtools.console_errors if devtools else [],
        "console_warnings": devtools.console_warnings if devtools else [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--page", help="URL of the Parley web page, e.g. http://127.0.0.1:8080/")
    where.add_argument("--serve", type=Path, metavar="DIR", help="serve this directory (web/) and open it")
    parser.add_argument("--server", help="with --serve: the WebSocket URL, e.g. ws://127.0.0.1:8080/ws")
    parser.add_argument("--wav", required=True, type=Path, help="the question to speak (any PCM WAV)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for a finished turn (default 60)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "chromium"), help="Chromium binary")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the page at the end")
    parser.add_argument("--fail-on-console-errors", action="store_true",
                        help="also fail if the page logged errors or threw")
    parser.add_argument("--expect", choices=sorted(EXPECTATIONS), default="reply",
                        help="what the page must show (default: reply, a turn ended and its audio played)")
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument("--then-wav", type=Path, help="a second sound to speak over the reply (any PCM WAV)")
    follow.add_argument("--burst-ms", type=float, help="a noise burst of this many ms to play over the reply")
    parser.add_argument("--gap", type=float, default=3.0,
                        help="seconds of silence between the question and the second sound (default 3)")
    options = parser.parse_args()

    binary = shutil.which(options.chromium)
    if not binary:
        print(json.dumps({"ok": False, "message": f"Chromium not found ({options.chromium}); apt-get install chromium"}))
        return 1
    for wav in (options.wav, options.then_wav):
        if wav is not None and not wav.is_file():
            print(json.dumps({"ok": False, "message": f"WAV file not found: {wav}"}))
            return 1
    if options.expect in ("pause-resume", "ignored", "interrupt") and options.then_wav is None and not options.burst_ms:
        parser.error(f"--expect {options.expect} needs --then-wav or --burst-ms")

    started = time.monotonic()
    static_server = None
    if options.serve is not None:
        if not options.server:
            parser.error("--serve needs --server ws://host:port/ws")
        try:
            static_server, base = serve_directory(options.serve.resolve())
        except (TestFailure, OSError) as error:
            print(json.dumps({"ok": False, "message": str(error)}))
            return 1
        page = f"{base}?server={options.server}"
    else:
        page = options.page
    page_url = page_url_with_autostart(page)
    extra: dict[str, Any] = {"page": page_url, "wav": str(options.wav.resolve())}
    summary: dict[str, Any] = {}
    process: subprocess.Popen | None = None
    ok, message = False, ""
    with tempfile.TemporaryDirectory(prefix="parley-browser-") as tmp:
        try:
            capture = Path(tmp) / "capture.wav"
            follow_up = options.then_wav.resolve() if options.then_wav else None
            capture_file = prepare_wav(options.wav.resolve(), capture, follow_up, (options.burst_ms or 0) / 1000, options.gap)
            extra["capture_file"] = capture_file
            expectation = EXPECTATIONS[options.expect](speech_s=capture_file["speech_s"], gap_s=options.gap,
                                                       follow_up_s=capture_file.get("follow_up_s", 0))
            profile = Path(tmp) / "profile"
            profile.mkdir()
            log = Path(tmp) / "chromium.log"
            process = launch_chromium(binary, capture, profile, log)
            port = wait_for_devtools_port(profile, process, log, 30)
            try:
                asyncio.run(drive(page_url, port, options.timeout, summary, expectation, options.screenshot))
            finally:
                if getattr(expectation, "notes", None):
                    extra["scenario"] = expectation.notes
            ok, message = True, expectation.success
        except TestFailure as failure:
            message = str(failure)
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as error:
            message = f"{type(error).__name__}: {error}"
        finally:
            if process is not None:
                stop_chromium(process)
            if static_server is not None:
                static_server.shutdown()
        devtools = summary.get("_devtools")
        if ok and options.fail_on_console_errors and devtools and devtools.console_errors:
            ok, message = False, f"the page logged {len(devtools.console_errors)} console error(s)"
        extra["elapsed_s"] = round(time.monotonic() - started, 2)
        print(json.dumps(build_summary(ok, message, summary.get("_state"), devtools, extra)), flush=True)
    if not ok:
        print(f"browser test FAILED: {message}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
