"""A real HTTP receiver on 127.0.0.1 standing in for the collector in shipping tests.

It stores what arrives by event id, can answer 503 (`mode = "down"`), 400 (`"reject"`), hang without answering
(`mode = "hang"`) or be stopped and started again on the same port. `answer`, when set, decides the reply to a
decoded body: `(status, reply JSON, the items of the body to store)`.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any], list[dict[str, Any]]]]


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
        self.answer: Answer | None = None
        self.max_body_bytes: int | None = None  # like the collector's limit: 413 past it, after gunzip
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
                if receiver.max_body_bytes is not None and len(raw) > receiver.max_body_bytes:
                    self.send_response(413)
                    self.end_headers()
                    return
                body = json.loads(raw)
                status, reply = 202, {"accepted": sum(len(v) for v in body.values()), "duplicates": 0}
                if receiver.answer is not None:
                    status, reply, stored = receiver.answer(self.path, body)
                    body = {key: stored for key in body}
                receiver._store(self.path, body, dict(self.headers))
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

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
