"""A collector inside the current process (uvicorn in a background thread), for the demo and examples."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from bakeoff.collector.app import create_app
from bakeoff.collector.settings import CollectorSettings


class EmbeddedCollector:
    """`with EmbeddedCollector("events.duckdb") as collector: ... collector.url ...`"""

    def __init__(self, db_path: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
        self.settings = CollectorSettings(db_path=db_path, host=host, port=port)
        config = uvicorn.Config(
            create_app(self.settings),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="bakeoff-collector", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self, timeout: float = 30.0) -> EmbeddedCollector:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the embedded collector did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Shut down and wait for it: the store closes and background threads (the word index, the
        ingest applier) leave DuckDB before this returns, so an exiting process never cuts one off
        inside a query (which aborts the process). Bounded, for a shutdown that hangs."""
        self._server.should_exit = True
        self._thread.join(300)

    def __enter__(self) -> EmbeddedCollector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
