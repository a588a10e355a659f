"""A run directory: `run.json`, `detailed_results.jsonl` (appended as rows finish) and the two summaries.

Every file is valid at any moment: rows are appended one line at a time and flushed, summaries are
written to a temporary file and renamed. A run interrupted at any point is resumed by reading back
which (event, provider, repeat) rows are done; a torn last line is ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import orjson

DETAILED = "detailed_results.jsonl"
RunKey = tuple[str, str, int]  # (event_id, provider, repeat)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)


class RunDirectory:
    """`DIR/<run-id>/` and its files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / DETAILED).touch()  # a run with no row yet still has its (empty) results file
        self._rows: IO[bytes] | None = None

    @property
    def run_id(self) -> str:
        return self.path.name

    def read_rows(self) -> list[dict[str, Any]]:
        """The rows written so far (a torn last line, from a crash mid-write, is left out)."""
        file = self.path / DETAILED
        if not file.exists():
            return []
        rows = []
        for line in file.read_bytes().splitlines():
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
        return rows

    def done(self) -> set[RunKey]:
        """Keys of the rows already written, to skip on resume."""
        return {(r["event_id"], r["provider"], int(r.get("repeat", 0))) for r in self.read_rows()}

    def append(self, row: dict[str, Any]) -> None:
        """Append one row and flush it to the file."""
        if self._rows is None:
            file = self.path / DETAILED
            self._rows = open(file, "ab")  # noqa: SIM115 - kept open for the run, closed by close()
            if file.stat().st_size and not _ends_with_newline(file):
                self._rows.write(b"\n")  # after a torn line, start a fresh one
        self._rows.write(orjson.dumps(row) + b"\n")
        self._rows.flush()

    def write(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def read(self, name: str) -> Any:
        return orjson.loads((self.path / name).read_bytes())

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()
            self._rows = None


def _ends_with_newline(file: Path) -> bool:
    with open(file, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
