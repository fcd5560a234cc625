"""A real webhook receiver for the tests: an http.server on 127.0.0.1 in a thread, which records
every request and answers from a script (a status, or a pause longer than the sender waits)."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def signature_valid(self, secret: str, *, tolerance: int = 300) -> bool:
        """What a receiver does: recompute v1 over `t + "." + body` and compare in constant
        time, and refuse a timestamp far from its own clock (a replay)."""
        parts = dict(item.split("=", 1) for item in self.headers["Webhook-Signature"].split(","))
        timestamp = int(parts["t"])
        expected = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - timestamp) < (
            tolerance
        )


CERT_DIR = Path(__file__).resolve().parent
# A self-signed certificate for the name localhost (valid until 2126), for the TLS receiver.
CERT_FILE = CERT_DIR / "localhost-cert.pem"
KEY_FILE = CERT_DIR / "localhost-key.pem"


class Receiver:
    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.received: list[Received] = []
        # Each request takes the next answer: an int status, or ("sleep", seconds) then 200.
        self.script: list[int | tuple[str, float]] = []
        self.default = 200
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers), body))
                    answer = receiver.script.pop(0) if receiver.script else receiver.default
                if isinstance(answer, tuple):
                    time.sleep(answer[1])
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(CERT_FILE, KEY_FILE)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        if self.tls:
            return f"https://localhost:{port}/hooks/credits"  # the certificate's name
        return f"http://127.0.0.1:{port}/hooks/credits"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
