"""A real HTTP receiver on 127.0.0.1 standing in for the collector in shipping tests.

It stores what arrives by event id, can answer 503 (`mode = "down"`), 400 (`"reject"`), hang without answering
(`mode = "hang"`) or be stopped and started again on the same port.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Collects `POST /v1/events` and `/v1/feedback` batches."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.mode = "ok"
        self.events: dict[str, dict[str, Any]] = {}
        self.deliveries: Counter[str] = Counter()  # event id -> times received
        self.feedback: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                if receiver.mode == "hang":
                    receiver.release.wait(30)
                if receiver.mode in ("down", "reject"):
                    self.send_response(503 if receiver.mode == "down" else 400)
                    self.end_headers()
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                receiver._store(self.path, json.loads(raw), dict(self.headers))
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"accepted": 0, "duplicates": 0}')

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _store(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self.headers.append(headers)
            if path.endswith("/v1/events"):
                for event in body["events"]:
                    self.events[event["id"]] = event
                    self.deliveries[event["id"]] += 1
            elif path.endswith("/v1/feedback"):
                self.feedback.extend(body["feedback"])

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self.release = threading.Event()
