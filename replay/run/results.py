"""A run directory: `run.json`, `detailed_results.jsonl` (appended as rows finish), the two summaries,
and `requests.jsonl`, the ledger of what was paid for.

Every file is valid at any moment: rows are appended one line at a time and flushed, summaries are
written to a temporary file and renamed. A run interrupted at any point is resumed by reading back
which (event, provider, repeat) rows are done; a torn last line is ignored.

The ledger has a line before each paid request is sent (with the most it can cost) and one when it
settles (with what it cost). A run killed with requests in flight lost their answers, but the provider
may have billed them: a resumed run counts each request without its settling line at its maximum, so
`--cost-limit` holds across any number of kills.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import IO, Any

import orjson

DETAILED = "detailed_results.jsonl"
LEDGER = "requests.jsonl"
RunKey = tuple[str, str, int]  # (event_id, provider, repeat)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    os.replace(temporary, path)


def _json_lines(file: Path) -> list[dict[str, Any]]:
    """The lines of a JSON-lines file that parse (a torn last line, from a crash mid-write, is left out)."""
    if not file.exists():
        return []
    rows = []
    for line in file.read_bytes().splitlines():
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return rows


class _AppendFile:
    """A JSON-lines file kept open for appending; each line is flushed to the OS as it is written."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._handle: IO[bytes] | None = None

    def append(self, record: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = open(self.file, "ab")  # noqa: SIM115 - kept open for the run, closed by close()
            if self.file.stat().st_size and not _ends_with_newline(self.file):
                self._handle.write(b"\n")  # after a torn line, start a fresh one
        # flushed, not fsynced: what a killed process wrote survives it (the OS holds it), cheaply
        self._handle.write(orjson.dumps(record) + b"\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Ledger:
    """`requests.jsonl`: every paid request, written before it is sent and again when it settles."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._lines = _AppendFile(file)
        self._session = secrets.token_hex(4)  # request numbers restart with each (resumed) process
        self._sent = 0

    def sent(self, maximum: float | None) -> str:
        """Record a request about to be sent and the most it can cost; returns its ticket for `settled`."""
        self._sent += 1
        ticket = f"{self._session}-{self._sent}"
        self._lines.append({"sent": ticket, "max": maximum})
        return ticket

    def settled(self, ticket: str, cost: float | None) -> None:
        """Record what the request of `ticket` cost (None or 0 when it was not billed)."""
        self._lines.append({"settled": ticket, "cost": cost})

    def carry(self, cost: float) -> None:
        """Record a spend from before the ledger (a run written by an older version, resumed)."""
        self._lines.append({"carried": cost})

    def spent(self) -> float:
        """What every request recorded cost: settled ones as billed, unsettled ones at their maximum."""
        maximum: dict[str, float] = {}
        settled: dict[str, float] = {}
        carried = 0.0
        for line in _json_lines(self.file):
            if "sent" in line:
                maximum[line["sent"]] = line.get("max") or 0.0
            elif "settled" in line:
                settled[line["settled"]] = line.get("cost") or 0.0
            else:
                carried += line.get("carried") or 0.0
        return carried + sum(settled.get(ticket, most) for ticket, most in maximum.items())

    def close(self) -> None:
        self._lines.close()


class RunDirectory:
    """`DIR/<run-id>/` and its files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / DETAILED).touch()  # a run with no row yet still has its (empty) results file
        self._rows = _AppendFile(self.path / DETAILED)
        self.ledger = Ledger(self.path / LEDGER)

    @property
    def run_id(self) -> str:
        return self.path.name

    def read_rows(self) -> list[dict[str, Any]]:
        """The rows written so far (a torn last line, from a crash mid-write, is left out)."""
        return _json_lines(self.path / DETAILED)

    def spent(self, rows: list[dict[str, Any]]) -> float:
        """What the run has cost so far, requests in flight when it stopped included (at their maximum).

        From the ledger. A run written before the ledger existed is counted from its `rows`, and that
        sum carried into a new ledger, so that later resumes count it too.
        """
        if self.ledger.file.exists():
            return self.ledger.spent()
        before = sum((r.get("cost") or 0.0) for r in rows if not r.get("cached")) + sum(
            r.get("judge_cost") or 0.0 for r in rows
        )
        if before:
            self.ledger.carry(before)
        return before

    def done(self) -> set[RunKey]:
        """Keys of the rows already written, to skip on resume."""
        return {(r["event_id"], r["provider"], int(r.get("repeat", 0))) for r in self.read_rows()}

    def append(self, row: dict[str, Any]) -> None:
        """Append one row and flush it to the file."""
        self._rows.append(row)

    def write(self, name: str, data: Any) -> None:
        write_json(self.path / name, data)

    def read(self, name: str) -> Any:
        return orjson.loads((self.path / name).read_bytes())

    def close(self) -> None:
        self._rows.close()
        self.ledger.close()


def _ends_with_newline(file: Path) -> bool:
    with open(file, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
