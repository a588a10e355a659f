"""A real collector (`bakeoff serve` under uvicorn, on a DuckDB file) in a subprocess on 127.0.0.1.

`tests/collector` runs twice, on the DuckDB file and on DuckLake (see `support.stores`): while a test
runs on DuckLake, a collector started with `db` runs on the DuckLake that stands for that file, with
`<db>.journal` as its journal, so that a test restarting a collector on `db` restarts it on the same data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from support import stores
from support.ports import free_port


class CollectorProcess:
    """`bakeoff serve --db DB --port PORT [args...]`, started and stopped by tests."""

    def __init__(
        self,
        db: Path,
        *args: str,
        port: int | None = None,
        log: Path | None = None,
        preexec: Callable[[], None] | None = None,
        store_args: list[str] | None = None,
    ) -> None:
        self.db = db
        # The flags naming its store: `--db DB`, or the DuckLake of this test's run.
        self.store_args = stores.serve_args(db) if store_args is None else store_args
        self.args = args
        self.log = log  # where its stderr goes; None: a pipe, shown if it fails to start
        self.preexec = preexec  # run in the child before exec (e.g. resource limits)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> CollectorProcess:
        command = [
            sys.executable,
            "-m",
            "bakeoff.cli",
            "serve",
            *self.store_args,
            "--port",
            str(self.port),
            *self.args,
        ]
        if self.log is None:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=self.preexec
            )
        else:
            with self.log.open("w") as log:  # the child keeps its own copy of the file
                self.process = subprocess.Popen(
                    command, stdout=subprocess.DEVNULL, stderr=log, preexec_fn=self.preexec
                )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                error = error or (self.log.read_text() if self.log is not None else "")
                self._reap()
                raise RuntimeError(f"collector exited: {error}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("collector did not become healthy")

    def kill(self) -> None:
        """kill -9: no shutdown, no checkpoint."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self._reap()

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), falling back to kill -9."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
            self._reap()

    def _reap(self) -> None:
        assert self.process is not None
        self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None
