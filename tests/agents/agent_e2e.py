#!/usr/bin/env python3
"""An agent that acts, end to end: `parley serve --agent FILE` on the embedded engines (no keys),
a spoken question, the local LLM calling a tool, and the spoken answer carrying its result.

    python tests/agents/agent_e2e.py --parley .build/debug/parley [--mode webhook|mcp|both]
        [--serve-args "..."] [--keep]

* webhook: a loopback HTTP server plays the agent's `get_weather` webhook. It checks the
  `Authorization` header the agent file builds from `${WEATHER_KEY}`, records each call's body
  (`name`, `arguments`, `call_id`, `session_id`) and answers with fixed, unusual weather
  (17 °C and foggy), so the reply can only carry it if the tool ran.
* mcp: the agent file names the real MCP server `tests/mcp/orders_server.py` (PyPI `mcp`, stdio);
  Parley starts it, and the server logs each `get_order_status` call's arguments and its PID to a
  file named through the agent file's `env` (`${ORDERS_LOG}`). After Parley stops, that PID must
  be gone (the child is never orphaned).

Each question is spoken in the hibari voice (`scripts/say.py`) as its own `parley talk` session.
Passes when the tool received the right arguments and the reply holds what the tool returned.
Exits 1 otherwise, printing the replies, the tool calls and the tail of the server's log. The
server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "quality"))
from offline_quality import free_port, speak, talk, wait_healthy  # noqa: E402

WEATHER_KEY = "weather-test-key-0123"
WEATHER = {"city": None, "temperature_c": 17, "conditions": "foggy"}

SYSTEM_PROMPT = (
    "You are a helpful voice assistant in a spoken conversation. When a question is about the weather, "
    "call get_weather; when it is about an order, call get_order_status. Then answer from the tool's result "
    "in one short sentence, without lists, markdown or emoji."
)

# (mode, question, check on the tool's arguments, words of which one must be in the reply)
QUESTIONS = [
    ("webhook", "What's the weather like in Paris right now?", lambda a: "paris" in str(a.get("city", "")).lower(),
     ["17", "seventeen", "fog", "foggy"]),
    ("mcp", "Where is my order number 42?", lambda a: "42" in str(a.get("order_id", "")),
     ["friday", "december", "shipped"]),
]


class WeatherHandler(http.server.BaseHTTPRequestHandler):
    calls: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        if self.headers.get("Authorization") != f"Bearer {WEATHER_KEY}":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"error":"bad key"}')
            return
        try:
            call = json.loads(body)
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        WeatherHandler.calls.append(call)
        answer = dict(WEATHER, city=(call.get("arguments") or {}).get("city"))
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def agent_file(directory: str, modes: list[str], webhook_port: int) -> str:
    agent: dict = {"system_prompt": SYSTEM_PROMPT, "tools": [], "mcp_servers": []}
    if "webhook" in modes:
        agent["tools"].append({
            "type": "webhook", "name": "get_weather", "description": "Get the current weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "url": f"http://127.0.0.1:{webhook_port}/weather", "timeout_ms": 3000,
            "headers": {"Authorization": "Bearer ${WEATHER_KEY}"},
        })
    if "mcp" in modes:
        agent["mcp_servers"].append({
            "name": "orders", "command": [os.path.join(ROOT, ".venv/bin/python"), os.path.join(ROOT, "tests/mcp/orders_server.py"),
                        "--only", "get_order_status"],
            "env": {"ORDERS_CALL_LOG": "${ORDERS_LOG}"},
        })
    path = os.path.join(directory, "agent.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump(agent, file, indent=2)
    return path


def mcp_calls(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it has exited.
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as file:
            return file.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parley", default=os.path.join(ROOT, ".build/debug/parley"))
    parser.add_argument("--mode", choices=["webhook", "mcp", "both"], default="both")
    parser.add_argument("--serve-args", default="", help="extra `parley serve` arguments")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    modes = ["webhook", "mcp"] if args.mode == "both" else [args.mode]

    directory = tempfile.mkdtemp(prefix="parley-agent-")
    webhook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WeatherHandler)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    orders_log = os.path.join(directory, "orders-calls.jsonl")
    path = agent_file(directory, modes, webhook.server_address[1])
    port = free_port()
    log_path = os.path.join(directory, "serve.log")
    env = dict(os.environ, WEATHER_KEY=WEATHER_KEY, ORDERS_LOG=orders_log)
    for key in ("GROQ_API_KEY", "DEEPGRAM_API_KEY", "ELEVENLABS_API_KEY", "OPENAI_API_KEY", "PARLEY_API_KEY"):
        env.pop(key, None)
    command = [args.parley, "serve", "--port", str(port), "--agent", path, "--log-tool-payloads", *shlex.split(args.serve_args)]
    print("==> " + " ".join(command), flush=True)
    failures: list[str] = []
    with open(log_path, "w", encoding="utf-8") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_healthy(port, server)
        for mode, question, arguments_ok, expected in QUESTIONS:
            if mode not in modes:
                continue
            wav = os.path.join(directory, f"{mode}.wav")
            speak(question, wav, "hibari")
            started = time.monotonic()
            result = talk(args.parley, port, wav)
            reply = result.get("reply", "")
            timeline = result.get("server_timeline") or {}
            stages = ", ".join(f"{key} {timeline[key]:.0f}" for key in ("stt_final", "tool_start", "tool_end", "first_audio_sent")
                               if isinstance(timeline.get(key), (int, float)))
            voice = (result.get("timeline") or {}).get("first_audio")
            print(f"{mode}: asked {question!r} -> heard {result.get('transcript')!r}, replied {reply!r}\n"
                  f"    voice to voice {voice if voice is None else round(voice)} ms; server ms after speech end: {stages} "
                  f"({time.monotonic() - started:.1f} s in all)", flush=True)
            if mode == "webhook":
                calls = [c.get("arguments") or {} for c in WeatherHandler.calls if c.get("name") == "get_weather"]
                bodies_ok = all(c.get("call_id") and c.get("session_id") for c in WeatherHandler.calls)
                if not bodies_ok:
                    failures.append(f"a webhook call lacked call_id or session_id: {WeatherHandler.calls}")
            else:
                calls = [{"order_id": c["order_id"]} for c in mcp_calls(orders_log)]
            print(f"    tool calls received: {calls}", flush=True)
            if not any(arguments_ok(c) for c in calls):
                failures.append(f"{mode}: the tool never received the right arguments (got {calls})")
            if not any(word in reply.lower() for word in expected):
                failures.append(f"{mode}: the reply {reply!r} does not carry the tool's result ({expected})")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        webhook.shutdown()
    if "mcp" in modes:
        pids = {c["pid"] for c in mcp_calls(orders_log)}
        time.sleep(0.5)
        orphans = [pid for pid in pids if alive(pid)]
        if orphans:
            failures.append(f"the MCP server outlived parley serve: PIDs {orphans}")
            for pid in orphans:
                os.kill(pid, signal.SIGKILL)
    if failures:
        with open(log_path, encoding="utf-8") as file:
            tail = file.read().splitlines()[-40:]
        print("\n".join(["FAILED:"] + failures + ["--- parley serve log (tail) ---"] + tail), file=sys.stderr)
        return 1
    print(f"agent end to end: passed ({', '.join(modes)})")
    if not args.keep:
        subprocess.run(["rm", "-rf", directory], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
