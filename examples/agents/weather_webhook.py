#!/usr/bin/env python3
"""A toy weather webhook for examples/agents/weather-and-orders.json.

    WEATHER_KEY=demo python3 examples/agents/weather_webhook.py      # listens on 127.0.0.1:8787
    WEATHER_KEY=demo make run ARGS="--agent examples/agents/weather-and-orders.json"

Parley POSTs {"name", "arguments", "call_id", "session_id"}; this answers with made-up weather
for `arguments.city` (a real webhook would look it up), after checking the bearer key.
"""

import http.server
import json
import os
import zlib

KEY = os.environ.get("WEATHER_KEY", "demo")
CONDITIONS = ["sunny", "cloudy", "light rain", "foggy", "windy"]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self.answer(401, {"error": "bad key"})
        try:
            call = json.loads(self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 16)))
            city = str(call["arguments"]["city"])
        except (ValueError, KeyError, TypeError):
            return self.answer(400, {"error": "expected arguments.city"})
        seed = zlib.crc32(city.lower().encode())
        self.answer(200, {"city": city, "temperature_c": 5 + seed % 25, "conditions": CONDITIONS[seed % len(CONDITIONS)]})

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    print("weather webhook on http://127.0.0.1:8787/weather")
    http.server.ThreadingHTTPServer(("127.0.0.1", 8787), Handler).serve_forever()
