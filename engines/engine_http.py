"""What the engine servers (whisper_server.py, speech_server.py) share: the log, OpenAI's error
envelope, the HTTP server and handler basics, the client-gone check, signal handling and the
"ready" line Parley's supervisor waits for. Standard library only.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(msg: str) -> None:
    try:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    except Exception:
        pass


class ApiError(Exception):
    """An error answered in OpenAI's envelope."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, err_type: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        if err_type is None:
            err_type = "server_error" if status >= 500 else "invalid_request_error"
        self.err_type = err_type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.err_type,
                          "param": self.param, "code": self.code}}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class EngineHandler(BaseHTTPRequestHandler):
    """Request handling both engines share; each defines `_other_method` (405/404 for PUT,
    DELETE, PATCH) and its own GET/POST."""

    protocol_version = "HTTP/1.1"

    # silence the default access log; each engine writes its own line
    def log_message(self, format, *args):  # noqa: A002
        pass

    def _path(self) -> str:
        path = self.path.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        return path

    def _client_gone(self) -> bool:
        """True when the client has closed its end (EOF or reset waiting on the socket).

        Called once the request body has been read in full, so anything readable now is the
        client's FIN (a client that half-closes after sending its request is taken as gone)."""
        sock = self.connection
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def do_PUT(self):
        self._other_method()

    def do_DELETE(self):
        self._other_method()

    def do_PATCH(self):
        self._other_method()


def exit_on_signals(name: str) -> None:
    """SIGTERM and SIGINT end the process at once: worker threads may be inside a native engine
    (CTranslate2, ONNX Runtime) and are not waited for."""
    def on_signal(signum, _frame):
        log(f"{name}: signal {signum}, exiting")
        try:
            sys.stdout.flush()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def listen_and_serve(name: str, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> int:
    """Binds, prints "<name> ready on HOST:PORT" (the line Parley's supervisor waits for), serves."""
    try:
        httpd = Server((host, port), handler)
    except OSError as exc:
        log(f"{name}: cannot listen on {host}:{port}: {exc}")
        return 1
    bound_host, bound_port = httpd.server_address[:2]
    print(f"{name} ready on {bound_host}:{bound_port}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.5)
    finally:
        httpd.server_close()
    return 0
