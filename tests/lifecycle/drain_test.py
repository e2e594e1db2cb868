#!/usr/bin/env python3
"""Checks Parley's graceful drain against a real `parley serve` process.

    python tests/lifecycle/drain_test.py --parley dist/parley-…/bin/parley [--cwd DIR]

Starts `parley serve` on a free port with a long spoken greeting (espeak-ng in process; the other
stages point at an unused URL, so no engine is needed), opens a voice WebSocket that streams
silence in real time, and once the greeting's audio is flowing sends SIGTERM. Then it checks:
- `/health/ready` answers 503 with reason `draining` (and `/health/live` still 200);
- a new WebSocket upgrade is refused with HTTP 503;
- the open socket keeps receiving the greeting's audio, gets `agent.audio.end` and `turn.end`,
  then the `going_away` error event and a 1001 close;
- the process exits 0.
A second run with `--drain-timeout 1` checks that a reply longer than the timeout is cut: the
socket closes with `going_away`/1001 about a second after SIGTERM and the process exits 0. A third
has a raw client that reads but never answers the close: the process still exits 0 within 10 s
(the drain, then at most 3 s for the connections still open). A fourth leaves a webhook request's
body unfinished, which holds the HTTP server after the drain (before this check, for good): the
process exits 0 about 3 s after SIGTERM, having closed that connection and logged a warning.
Prints one line per check; exits 1 on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import websockets

GREETING = (
    "Hello, and welcome to Parley. This greeting is deliberately long, so that the server is still "
    "speaking when it is asked to stop. It should finish this sentence before it says goodbye."
)
SILENCE = bytes(640)  # 20 ms of 16 kHz PCM16


class Failure(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def start_server(parley: str, port: int, cwd: str, log, extra: list[str], env_extra: dict | None = None) -> subprocess.Popen:
    unused = f"http://127.0.0.1:{free_port()}/v1"
    command = [parley, "serve", "--port", str(port), "--stt", "local", "--stt-url", unused, "--llm", "local",
               "--llm-url", unused, "--tts", "espeak", "--greeting", GREETING, *extra]
    env = {"PATH": "/usr/bin:/bin", **(env_extra or {})}  # a bare environment, as a container gives
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Failure(f"parley serve exited with {process.returncode} before it was ready")
        try:
            if get(f"http://127.0.0.1:{port}/health/ready")[0] == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    raise Failure("parley serve was not ready within 30 s")


async def stream_silence(ws) -> None:
    next_at = time.monotonic()
    while True:
        await ws.send(SILENCE)
        next_at += 0.02
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def drain(parley: str, cwd: str, log, drain_timeout: float | None) -> str:
    port = free_port()
    extra = ["--drain-timeout", str(drain_timeout)] if drain_timeout is not None else []
    process = start_server(parley, port, cwd, log, [x for x in extra])
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws", max_size=1 << 20) as ws:
            sender = asyncio.create_task(stream_silence(ws))
            frames_before = 0
            while frames_before < 25:  # half a second of the greeting
                message = await asyncio.wait_for(ws.recv(), 20)
                if isinstance(message, bytes):
                    frames_before += 1
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            status, ready = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/health/ready")
            if status != 503 or ready.get("reason") != "draining":
                raise Failure(f"/health/ready during the drain answered {status} {ready}")
            if "sessions" not in ready or "max_sessions" not in ready:
                raise Failure(f"/health/ready lacks sessions/max_sessions: {ready}")
            live = (await asyncio.to_thread(get, f"http://127.0.0.1:{port}/health/live"))[0]
            if live != 200:
                raise Failure(f"/health/live during the drain answered {live}")
            try:
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws"):
                    raise Failure("a new WebSocket was accepted during the drain")
            except websockets.exceptions.InvalidStatus as refused:
                if refused.response.status_code != 503:
                    raise Failure(f"a new WebSocket during the drain got HTTP {refused.response.status_code}, not 503")

            frames_after, events = 0, []
            try:
                while True:
                    message = await asyncio.wait_for(ws.recv(), 40)
                    if isinstance(message, bytes):
                        frames_after += 1
                    else:
                        events.append(json.loads(message))
            except websockets.exceptions.ConnectionClosed as closed:
                close = closed.rcvd
            sender.cancel()
            closed_after = time.monotonic() - signalled
        types = [e["type"] for e in events]
        errors = [e for e in events if e["type"] == "error"]
        if close is None or close.code != 1001:
            raise Failure(f"the socket closed with {close}, not 1001 (events {types})")
        if not errors or errors[-1].get("code") != "going_away" or not errors[-1].get("fatal"):
            raise Failure(f"no fatal going_away event before the close: {errors}")
        if drain_timeout is None:
            if frames_after < 50 or "agent.audio.end" not in types or "turn.end" not in types:
                raise Failure(f"the reply was not heard out: {frames_after} frames after SIGTERM, events {types}")
            turn_end = next(e for e in events if e["type"] == "turn.end")
            if turn_end.get("interrupted"):
                raise Failure("the greeting was cut short by the drain")
            if types.index("turn.end") > types.index("error"):
                raise Failure(f"going_away came before the turn ended: {types}")
        elif closed_after > drain_timeout + 3:
            raise Failure(f"with --drain-timeout {drain_timeout} the socket closed {closed_after:.1f} s after SIGTERM")
        code = await asyncio.to_thread(process.wait, 15)
        if code != 0:
            raise Failure(f"parley serve exited with {code} after the drain")
        return (f"{frames_after} frames ({frames_after * 0.02:.1f} s) after SIGTERM, then {types[-2:]}, "
                f"close 1001 at {closed_after:.1f} s, exit 0")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def exit_within(process: subprocess.Popen, signalled: float, limit: float, held_by: str) -> float:
    """Waits for the exit after SIGTERM; fails unless it is status 0 within `limit` seconds. Returns when it came."""
    try:
        code = await asyncio.to_thread(process.wait, limit + 5)
    except subprocess.TimeoutExpired:
        raise Failure(f"parley serve was still running {limit + 5:.0f} s after SIGTERM, held by {held_by}")
    exited_after = time.monotonic() - signalled
    if code != 0:
        raise Failure(f"parley serve exited with {code}")
    if exited_after > limit:
        raise Failure(f"parley serve exited {exited_after:.1f} s after SIGTERM, held by {held_by}")
    return exited_after


async def silent_client(parley: str, cwd: str, log) -> str:
    """A client that never answers the close: the server still exits soon after the drain."""
    port = free_port()
    process = start_server(parley, port, cwd, log, ["--drain-timeout", "1"])
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101"):
            raise Failure(f"the upgrade was answered {head[:40]!r}")
        received = 0
        while received < 16000:  # the greeting's audio is flowing: the session is open
            received += len(await asyncio.wait_for(reader.read(65536), 20))
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # Read everything (the going_away event, the close frame) but never answer the close.
        while await asyncio.wait_for(reader.read(65536), 30):
            pass
        closed_after = time.monotonic() - signalled
        # The drain (1 s), then at most 3 s for connections still open (Hummingbird's WebSocket
        # close timeout, 15 s, would be well past 10 s).
        exited_after = await exit_within(process, signalled, 10, "a client that never answers the close")
        writer.close()
        return f"socket closed at {closed_after:.1f} s, exit 0 at {exited_after:.1f} s after SIGTERM"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def unfinished_request(parley: str, cwd: str, log) -> str:
    """A request whose body never arrives holds the HTTP server after the drain: it is closed 3 s later."""
    port = free_port()
    # With an auth token the webhook reads the whole form body before it answers.
    process = start_server(parley, port, cwd, log, [], {"TWILIO_AUTH_TOKEN": "drain-test", "PUBLIC_URL": "https://parley.example"})
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /twilio/voice HTTP/1.1\r\nHost: parley.example\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nCallSid=CA1")
        await writer.drain()
        await asyncio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        exited_after = await exit_within(process, signalled, 10, "a request never finished")
        closed = await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        if not closed:
            raise Failure("the unfinished request's connection was answered, not closed")
        log.flush()
        log.seek(0)
        if "HTTP connections still open after the drain; closing them" not in log.read():
            raise Failure("the server did not log that it closed the connection still open")
        return f"exit 0 at {exited_after:.1f} s after SIGTERM, the connection closed, with a warning"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parley", required=True, help="the parley executable")
    parser.add_argument("--cwd", default=None, help="working directory for the server (default: a fresh empty one)")
    args = parser.parse_args()
    parley = os.path.abspath(args.parley)
    with tempfile.TemporaryDirectory() as scratch, open(os.path.join(scratch, "server.log"), "w+") as log:
        cwd = args.cwd or scratch
        try:
            print("drain, reply heard out: ok (" + asyncio.run(drain(parley, cwd, log, None)) + ")")
            print("drain, timeout 1 s: ok (" + asyncio.run(drain(parley, cwd, log, 1)) + ")")
            print("drain, a client that never answers the close: ok (" + asyncio.run(silent_client(parley, cwd, log)) + ")")
            print("drain, a request that never finishes: ok (" + asyncio.run(unfinished_request(parley, cwd, log)) + ")")
        except (Failure, asyncio.TimeoutError, OSError, websockets.exceptions.WebSocketException) as failure:
            log.seek(0)
            print(log.read()[-4000:], file=sys.stderr)
            print(f"drain test failed: {failure!r}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
