"""A local HTTP server answering every POST with a recorded provider body from `fixtures/` (see README)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


class CannedServer:
    """Serves one fixture file (SSE or JSON) to every request until told otherwise; keeps the requests."""

    def __init__(self) -> None:
        self.body = b"{}"
        self.content_type = "application/json"
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, name: str) -> bytes:
        """Answer with `fixtures/NAME` from now on; returns its bytes."""
        self.body = (FIXTURES / name).read_bytes()
        self.content_type = "text/event-stream" if name.endswith(".sse") else "application/json"
        return self.body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                canned.requests.append({"path": self.path, "body": json.loads(raw or b"{}")})
                self.send_response(200)
                self.send_header("Content-Type", canned.content_type)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
