"""Progress of a run: a live bar on a terminal (rows, errors, spend, rate), plain lines otherwise.

Plain lines go to stderr at most every few seconds, so logs of CI runs stay short and stdout keeps
only the result (which may be JSON).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

PLAIN_EVERY_S = 5.0


class Progress:
    """`start(total)`, `row(row)` per finished row, `note(text)`, `finish()`."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.total = 0
        self.done = 0
        self.errors = 0
        self.spend = 0.0
        self._started = time.monotonic()
        self._last_line = 0.0
        self._bar: Any = None
        self._task: Any = None

    def start(self, total: int, title: str = "replaying") -> None:
        self.total = total
        self._started = time.monotonic()
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(title, total=total, status="")
        else:
            self._print(f"{title}: {total} requests")

    def _status(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return f"errors {self.errors} · spend ${self.spend:.4f} · {self.done / elapsed:.1f}/s"

    def row(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.errors += row.get("error") is not None
        if row.get("cost") and not row.get("cached"):
            self.spend += row["cost"]
        self.spend += row.get("judge_cost") or 0.0
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, status=self._status())
        elif time.monotonic() - self._last_line >= PLAIN_EVERY_S or self.done == self.total:
            self._print(f"{self.done}/{self.total} rows · {self._status()}")

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text)
        else:
            self._print(text)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _print(self, text: str) -> None:
        self._last_line = time.monotonic()
        print(text, file=self.stream, flush=True)
