#!/usr/bin/env python3
"""Checks engines/speech_server.py (OpenAI text-to-speech on hibari) over real HTTP.

    python tests/engines/speech_server_test.py --python /path/to/venv/bin/python [--busy]

--python is an interpreter with hibari-tts installed; this script itself needs only the standard
library. It starts the server on port 0 (parsing its ready line), then checks:
- /health, /healthz and /v1/audio/voices;
- a pcm stream: chunked framing parsed by hand, every chunk and the total an even number of bytes,
  not silent, no silence padded at the start, a duration plausible for the text; first-audio and total
  times are printed for one and three sentences (the three-sentence one must arrive in several chunks);
- wav: the RIFF header (24 kHz, mono, 16-bit, 0xFFFFFFFF sizes) followed by PCM;
- sse: speech.audio.delta events with base64 PCM, then speech.audio.done with usage;
- voice as an object, speed (2.0 is shorter than 1.0);
- every 4xx case answered in OpenAI's error envelope (400, 404, 405, 413, also with Expect: 100-continue);
- a client that disconnects after the first chunk: the server logs "client went away" and the next
  request is answered normally;
- with --busy, also the 503 for a fifth request while four stalled ones hold every slot (takes ~12 s).
Then it stops the server by PID. Prints one line per check; exits 1 on the first failure.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = os.path.join(ROOT, "engines", "speech_server.py")
SAMPLE_RATE = 24000
ONE = "Paris is the capital of France."
TWO = "Paris is the capital of France. It sits on the Seine."
THREE = ("When you arrive in the city for the first time, the sheer number of bridges can be "
         "surprising. There are thirty-seven of them. Most are open to walkers.")
LONG = " ".join(f"This is sentence number {i} of a long answer that keeps going." for i in range(1, 41))


class Failure(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


# --------------------------------------------------------------------------
# a small HTTP/1.1 client that parses chunked framing itself
# --------------------------------------------------------------------------

class Response:
    def __init__(self):
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.chunk_times: list[float] = []
        self.started = 0.0
        self.ended = 0.0

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self):
        return json.loads(self.body)

    @property
    def first_ms(self) -> float:
        return (self.chunk_times[0] - self.started) * 1000.0 if self.chunk_times else float("nan")

    @property
    def total_ms(self) -> float:
        return (self.ended - self.started) * 1000.0


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def send_request(sock: socket.socket, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> None:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    hdrs = dict(headers or {})
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
        hdrs.setdefault("Content-Length", str(len(body)))
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))


def read_head(f, resp: Response) -> None:
    status_line = f.readline().decode("latin-1")
    check(status_line.startswith("HTTP/1.1 "), f"bad status line {status_line!r}")
    resp.status = int(status_line.split()[1])
    while True:
        line = f.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        k, v = line.split(":", 1)
        resp.headers[k.strip().lower()] = v.strip()


def read_body(f, resp: Response, max_chunks: int | None = None) -> None:
    if resp.headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size_line = f.readline()
            check(size_line.endswith(b"\r\n"), f"truncated chunked body (size line {size_line!r})")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                check(f.readline() == b"\r\n", "chunked body does not end with an empty trailer")
                break
            data = f.read(size)
            check(len(data) == size and f.read(2) == b"\r\n", "malformed chunk")
            resp.chunks.append(data)
            resp.chunk_times.append(time.monotonic())
            if max_chunks is not None and len(resp.chunks) >= max_chunks:
                return
    elif "content-length" in resp.headers:
        data = f.read(int(resp.headers["content-length"]))
        resp.chunks.append(data)
        resp.chunk_times.append(time.monotonic())
    else:
        data = f.read()
        resp.chunks.append(data)
        resp.chunk_times.append(time.monotonic())


def request(port: int, method: str, path: str, body=None, headers=None) -> Response:
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
    resp = Response()
    resp.started = time.monotonic()
    with connect(port) as sock:
        send_request(sock, method, path, body, headers)
        f = sock.makefile("rb")
        read_head(f, resp)
        if method != "HEAD":
            read_body(f, resp)
    resp.ended = time.monotonic()
    return resp


def speech(port: int, **fields) -> Response:
    body = {"model": "hibari", "voice": "alloy", "response_format": "pcm"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    return request(port, "POST", "/v1/audio/speech", body)


# --------------------------------------------------------------------------
# audio checks
# --------------------------------------------------------------------------

def samples_of(pcm: bytes) -> array:
    a = array("h")
    a.frombytes(pcm)
    if sys.byteorder != "little":
        a.byteswap()
    return a


def rms(a) -> float:
    return (sum(x * x for x in a) / len(a)) ** 0.5 if len(a) else 0.0


def check_pcm(name: str, pcm: bytes, text: str) -> float:
    check(len(pcm) % 2 == 0, f"{name}: odd number of PCM bytes ({len(pcm)})")
    a = samples_of(pcm)
    seconds = len(a) / SAMPLE_RATE
    lo, hi = 0.03 * len(text), 0.15 * len(text) + 0.5
    check(lo <= seconds <= hi, f"{name}: {seconds:.2f} s of audio for {len(text)} characters "
                               f"(expected {lo:.1f}-{hi:.1f} s)")
    level = rms(a[::4])
    check(level > 300, f"{name}: audio is (nearly) silent, RMS {level:.0f}")
    frame = SAMPLE_RATE // 100
    lead = next((i for i in range(0, len(a) - frame, frame) if rms(a[i:i + frame]) > 100), len(a))
    check(lead / SAMPLE_RATE <= 0.15, f"{name}: {lead / SAMPLE_RATE:.2f} s of silence at the start")
    return seconds


def check_envelope(resp: Response, status: int, what: str, param: str | None = "any",
                   contains: str | None = None) -> None:
    check(resp.status == status, f"{what}: status {resp.status}, expected {status}")
    check(resp.headers.get("content-type", "").startswith("application/json"),
          f"{what}: content-type {resp.headers.get('content-type')!r}")
    try:
        err = resp.json()["error"]
    except (ValueError, KeyError, TypeError):
        raise Failure(f"{what}: no OpenAI error envelope in {resp.body[:200]!r}") from None
    check(isinstance(err.get("message"), str) and err["message"], f"{what}: empty error message")
    check(set(err) >= {"message", "type", "param", "code"}, f"{what}: envelope keys {sorted(err)}")
    expected_type = "server_error" if status >= 500 else "invalid_request_error"
    check(err["type"] == expected_type, f"{what}: error type {err['type']!r}")
    if param != "any":
        check(err["param"] == param, f"{what}: param {err['param']!r}, expected {param!r}")
    if contains:
        check(contains in err["message"], f"{what}: message {err['message']!r} lacks {contains!r}")


# --------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------

def check_health(port: int) -> None:
    for path in ("/health", "/healthz"):
        r = request(port, "GET", path)
        check(r.status == 200 and r.json() == {"status": "ok"}, f"GET {path}: {r.status} {r.body!r}")
    r = request(port, "GET", "/v1/audio/voices")
    voices = r.json().get("voices", []) if r.status == 200 else []
    check({"heart", "alloy", "nova"} <= set(voices), f"GET /v1/audio/voices: {r.status} {r.body!r}")
    print("ok   health, healthz and voices")


def check_pcm_stream(port: int) -> None:
    r = speech(port, input=TWO)
    check(r.status == 200, f"pcm: status {r.status} {r.body[:200]!r}")
    check(r.headers.get("transfer-encoding") == "chunked", f"pcm: not chunked: {r.headers}")
    check(r.headers.get("content-type") == "audio/pcm;rate=24000",
          f"pcm: content-type {r.headers.get('content-type')!r}")
    check(r.headers.get("x-accel-buffering") == "no", "pcm: no X-Accel-Buffering: no")
    check(all(len(c) % 2 == 0 for c in r.chunks), f"pcm: odd chunk sizes {[len(c) for c in r.chunks]}")
    seconds = check_pcm("pcm", r.body, TWO)
    print(f"ok   pcm stream: {len(r.chunks)} chunks, {seconds:.2f} s of audio, even sizes, not silent")

    for name, text in (("one sentence", ONE), ("three sentences", THREE)):
        r = speech(port, input=text)
        check(r.status == 200, f"{name}: status {r.status}")
        seconds = check_pcm(name, r.body, text)
        if text is THREE:  # streamed: several chunks, the first well before the end
            check(len(r.chunks) >= 3, f"{name}: {len(r.chunks)} chunks; expected one per piece")
            check(r.chunk_times[0] < r.chunk_times[-1], f"{name}: all chunks arrived at once")
        print(f"ok   {name}: first audio {r.first_ms:.0f} ms, total {r.total_ms:.0f} ms, "
              f"{seconds:.2f} s of audio in {len(r.chunks)} chunks")


def check_wav(port: int) -> None:
    r = speech(port, input=ONE, response_format="wav")
    check(r.status == 200, f"wav: status {r.status}")
    check(r.headers.get("content-type") == "audio/wav", f"wav: content-type {r.headers}")
    body = r.body
    check(len(body) > 44, "wav: shorter than its header")
    riff, riff_size, wave_, fmt_, fmt_size, tag, channels, rate, byte_rate, align, bits, data_, data_size = \
        struct.unpack("<4sI4s4sIHHIIHH4sI", body[:44])
    check((riff, wave_, fmt_, data_) == (b"RIFF", b"WAVE", b"fmt ", b"data"), "wav: not a RIFF/WAVE header")
    check((fmt_size, tag, channels, rate, byte_rate, align, bits) == (16, 1, 1, 24000, 48000, 2, 16),
          f"wav: fmt chunk {(fmt_size, tag, channels, rate, byte_rate, align, bits)}")
    check(riff_size == 0xFFFFFFFF and data_size == 0xFFFFFFFF,
          f"wav: sizes {riff_size:#x}/{data_size:#x}, expected 0xFFFFFFFF")
    seconds = check_pcm("wav", body[44:], ONE)
    print(f"ok   wav: header (24 kHz mono 16-bit, 0xFFFFFFFF sizes) and {seconds:.2f} s of PCM")


def check_sse(port: int) -> None:
    r = speech(port, input=TWO, stream_format="sse")
    check(r.status == 200, f"sse: status {r.status}")
    check(r.headers.get("content-type", "").startswith("text/event-stream"), f"sse: {r.headers}")
    events = []
    for block in r.body.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        check(block.startswith("data: "), f"sse: event without data: {block[:80]!r}")
        events.append(json.loads(block[len("data: "):]))
    check(len(events) >= 2, f"sse: {len(events)} events")
    deltas, done = events[:-1], events[-1]
    check(all(e.get("type") == "speech.audio.delta" for e in deltas), "sse: unexpected event types")
    pcm = b""
    for e in deltas:
        piece = base64.b64decode(e["audio"], validate=True)
        check(len(piece) % 2 == 0, "sse: odd-sized audio delta")
        pcm += piece
    seconds = check_pcm("sse", pcm, TWO)
    check(done.get("type") == "speech.audio.done", f"sse: last event {done.get('type')!r}")
    usage = done.get("usage") or {}
    check(usage.get("input_tokens", 0) > 0 and usage.get("output_tokens") == 0
          and usage.get("total_tokens") == usage.get("input_tokens"), f"sse: usage {usage}")
    print(f"ok   sse: {len(deltas)} audio deltas ({seconds:.2f} s) and speech.audio.done {usage}")


def check_options(port: int) -> None:
    r = speech(port, input="Hi there.", voice={"id": "nova"}, instructions="Speak warmly.",
               something_unknown=1)
    check(r.status == 200 and len(r.body) > 0, f"voice object: status {r.status} {r.body[:200]!r}")
    normal = speech(port, input=ONE)
    fast = speech(port, input=ONE, speed=2.0)
    check(normal.status == 200 and fast.status == 200, "speed: request failed")
    check(len(fast.body) < 0.8 * len(normal.body),
          f"speed: 2.0 gives {len(fast.body)} bytes, 1.0 gives {len(normal.body)}")
    print(f"ok   voice object, instructions, unknown fields; speed 2.0 "
          f"({len(fast.body) / 48000:.2f} s vs {len(normal.body) / 48000:.2f} s)")


def check_errors(port: int) -> None:
    path = "/v1/audio/speech"
    good = {"model": "hibari", "input": "Hello.", "voice": "alloy", "response_format": "pcm"}

    def without(key):
        return {k: v for k, v in good.items() if k != key}

    cases = [
        ("bad JSON", b"{not json", 400, None, None),
        ("JSON array", b"[1, 2]", 400, None, None),
        ("no body", b"", 400, None, None),
        ("missing model", without("model"), 400, "model", None),
        ("model not a string", {**good, "model": 5}, 400, "model", None),
        ("missing input", without("input"), 400, "input", None),
        ("empty input", {**good, "input": ""}, 400, "input", None),
        ("blank input", {**good, "input": "   "}, 400, "input", None),
        ("input not a string", {**good, "input": ["Hello."]}, 400, "input", None),
        ("input over 4096 characters", {**good, "input": "a" * 4097}, 400, "input", None),
        ("missing voice", without("voice"), 400, "voice", None),
        ("unknown voice", {**good, "voice": "darth"}, 400, "voice", "alloy"),
        ("voice object without id", {**good, "voice": {"name": "alloy"}}, 400, "voice", None),
        ("response_format mp3", {**good, "response_format": "mp3"}, 400, "response_format",
         "unsupported response_format"),
        ("response_format opus", {**good, "response_format": "opus"}, 400, "response_format", None),
        ("response_format absent (mp3)", without("response_format"), 400, "response_format", "mp3"),
        ("response_format unknown", {**good, "response_format": "ogg"}, 400, "response_format", None),
        ("speed too low", {**good, "speed": 0.1}, 400, "speed", None),
        ("speed too high", {**good, "speed": 4.5}, 400, "speed", None),
        ("speed not a number", {**good, "speed": "fast"}, 400, "speed", None),
        ("stream_format unknown", {**good, "stream_format": "websocket"}, 400, "stream_format", None),
    ]
    for what, body, status, param, contains in cases:
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        r = request(port, "POST", path, body)
        check_envelope(r, status, what, param if param else "any", contains)
    r = request(port, "POST", path, b"{" + b" " * (70 * 1024) + b"}")
    check_envelope(r, 413, "body over 64 KiB")
    r = Response()
    with connect(port) as sock:  # Expect: 100-continue: refused before the body is sent
        send_request(sock, "POST", path, None, {"Content-Type": "application/json",
                                                "Content-Length": str(1 << 20),
                                                "Expect": "100-continue"})
        f = sock.makefile("rb")
        read_head(f, r)
        read_body(f, r)
    check_envelope(r, 413, "body over 64 KiB with Expect: 100-continue")
    check_envelope(request(port, "GET", "/nope"), 404, "GET unknown path")
    check_envelope(request(port, "POST", "/v1/audio/transcriptions", json.dumps(good).encode()), 404,
                   "POST unknown path")
    check_envelope(request(port, "GET", path), 405, "GET /v1/audio/speech")
    check_envelope(request(port, "POST", "/health", b"{}"), 405, "POST /health")
    check_envelope(request(port, "PUT", path, json.dumps(good).encode()), 405, "PUT /v1/audio/speech")
    print(f"ok   {len(cases) + 7} error cases answered in the OpenAI envelope (400, 404, 405, 413)")


def check_disconnect(port: int, log_path: str) -> None:
    body = json.dumps({"model": "hibari", "input": LONG, "voice": "alloy",
                       "response_format": "pcm"}).encode()
    r = Response()
    r.started = time.monotonic()
    with connect(port) as sock:
        send_request(sock, "POST", "/v1/audio/speech", body)
        f = sock.makefile("rb")
        read_head(f, r)
        check(r.status == 200, f"disconnect: status {r.status}")
        read_body(f, r, max_chunks=1)
        f.close()
        # an RST rather than a FIN, as a client that crashes or is killed sends
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    first_s = len(r.body) / 2 / SAMPLE_RATE
    after = speech(port, input=ONE)
    check(after.status == 200, f"after disconnect: status {after.status}")
    check_pcm("after disconnect", after.body, ONE)
    deadline = time.monotonic() + 5
    line = ""
    while time.monotonic() < deadline and not line:
        with open(log_path, encoding="utf-8", errors="replace") as f:
            line = next((ln for ln in f if "client went away after" in ln), "")
        if not line:
            time.sleep(0.1)
    check(bool(line), "disconnect: no 'client went away' line in the server log")
    m = re.search(r"audio_s=([\d.]+)", line)
    sent = float(m.group(1)) if m else 0.0
    check(sent < 60.0, f"disconnect: the server kept synthesizing ({sent:.1f} s of audio)")
    print(f"ok   disconnect after the first chunk ({first_s:.2f} s): server stopped after "
          f"{sent:.2f} s of audio ({len(LONG)} characters would be ~{len(LONG) * 0.07:.0f} s); "
          f"next request fine")


def check_busy(port: int) -> None:
    """Four requests that never read hold every slot; a fifth waits 10 s and gets 503."""
    body = json.dumps({"model": "hibari", "input": LONG, "voice": "alloy",
                       "response_format": "pcm"}).encode()
    stalled = []
    try:
        for _ in range(4):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(20)
            sock.connect(("127.0.0.1", port))
            send_request(sock, "POST", "/v1/audio/speech", body)
            stalled.append(sock)
        time.sleep(1.0)
        t0 = time.monotonic()
        r = speech(port, input=ONE)
        waited = time.monotonic() - t0
        check_envelope(r, 503, "fifth request while four are stalled")
        check(r.headers.get("retry-after") is not None, "503 without Retry-After")
        check(9.0 <= waited <= 15.0, f"503 after {waited:.1f} s, expected about 10 s")
    finally:
        for sock in stalled:
            sock.close()
    print(f"ok   busy: 503 in the envelope after {waited:.1f} s while 4 requests held the slots")


# --------------------------------------------------------------------------

def start_server(python: str, log) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([python, SERVER, "--host", "127.0.0.1", "--port", "0", "--threads", "2"],
                               stdout=subprocess.PIPE, stderr=log, cwd=ROOT)
    deadline = time.monotonic() + 30
    line = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.2)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            m = re.match(rb"speech_server ready on ([\d.]+):(\d+)", line)
            if m:
                return process, int(m.group(2))
        if process.poll() is not None:
            break
    process.kill()
    raise Failure(f"the server did not print its ready line (last stdout {line!r}; exit "
                  f"{process.poll()})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter with hibari-tts installed")
    ap.add_argument("--busy", action="store_true", help="also check the 503 when busy (~12 s)")
    args = ap.parse_args()

    started = time.monotonic()
    log = tempfile.NamedTemporaryFile(prefix="speech_server_test.", suffix=".log", delete=False)
    process = None
    code = 1
    try:
        process, port = start_server(args.python, log)
        print(f"ok   server ready on port {port} in {time.monotonic() - started:.1f} s")
        check_health(port)
        check_pcm_stream(port)
        check_wav(port)
        check_sse(port)
        check_options(port)
        check_errors(port)
        check_disconnect(port, log.name)
        if args.busy:
            check_busy(port)
        check(process.poll() is None, f"the server exited with {process.returncode}")
        code = 0
    except Failure as exc:
        print(f"FAIL {exc}")
    except (OSError, ValueError) as exc:
        print(f"FAIL {type(exc).__name__}: {exc}")
    finally:
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        if code != 0:
            with open(log.name, encoding="utf-8", errors="replace") as f:
                tail = f.readlines()[-15:]
            print("server log (last lines):\n" + "".join("  " + ln for ln in tail), end="")
        os.unlink(log.name)
    elapsed = time.monotonic() - started
    print(f"{'PASS' if code == 0 else 'FAIL'} in {elapsed:.1f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
