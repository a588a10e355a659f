"""A webhook receiver on 127.0.0.1 that checks `X-Bakeoff-Signature` against its secret."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class Hook:
    """A webhook receiver on 127.0.0.1 that keeps each body and whether its signature was right."""

    def __init__(self, secret: str = "") -> None:
        self.received: list[tuple[dict[str, Any], bool]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                signed = hmac.compare_digest(self.headers.get("X-Bakeoff-Signature", ""), expected)
                hook.received.append((orjson.loads(body), signed))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, self.received
        return [body for body, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
