"""A damaged journal costs only the damaged record: replay resumes at the next intact one, the segment
is kept in quarantine/, and the loss is logged and counted in /metrics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bakeoff.collector.ingest import IngestPipeline, journal_folder
from bakeoff.collector.journal import encode_record
from bakeoff.collector.metrics import CollectorMetrics
from bakeoff.collector.rows import to_columns
from bakeoff.collector.store import Store
from bakeoff.schema import validate_event

pytestmark = pytest.mark.embedded_only(
    "replays a damaged journal next to a DuckDB file through the file store"
)

RECORDS, ROWS = 4, 50


def record(number: int) -> bytes:
    events = [
        validate_event(
            {
                "id": f"r{number}-{i}",
                "ts": "2026-03-01T10:00:00Z",
                "provider": "openai",
                "api": "chat.completions",
                "request": {"messages": [{"role": "user", "content": f"question {number} {i}"}]},
            }
        )
        for i in range(ROWS)
    ]
    return encode_record(to_columns(events, "sdk", datetime.now(UTC)))


def flip(data: bytearray, at: int) -> None:
    data[at] ^= 0xFF


def damage_record(number: int) -> Callable[[bytearray, list[int]], bytearray]:
    def damage(data: bytearray, starts: list[int]) -> bytearray:
        flip(data, starts[number] + 40)  # inside the payload: its CRC no longer holds
        return data

    return damage


def truncate_tail(data: bytearray, starts: list[int]) -> bytearray:
    return data[: starts[-1] + 30]  # the last record cut short, as a crash during its write leaves it


def append_garbage(data: bytearray, starts: list[int]) -> bytearray:
    return data + bytes(range(256)) * 4


def damage_header(data: bytearray, starts: list[int]) -> bytearray:
    data[starts[1] : starts[1] + 4] = b"\xff\xff\xff\x7f"  # a length running past the end
    return data


@pytest.mark.parametrize(
    ("damage", "lost_records", "corrupt"),
    [
        (damage_record(0), [0], True),
        (damage_record(2), [2], True),
        (damage_header, [1], True),
        (truncate_tail, [RECORDS - 1], False),
        (append_garbage, [], True),
    ],
    ids=["first-record", "middle-record", "middle-header", "truncated-tail", "garbage-appended"],
)
def test_replay_skips_only_what_is_damaged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[bytearray, list[int]], bytearray],
    lost_records: list[int],
    corrupt: bool,
) -> None:
    db = str(tmp_path / "j.duckdb")
    records = [record(n) for n in range(RECORDS)]
    starts = [sum(len(r) for r in records[:n]) for n in range(RECORDS)]
    segment = journal_folder(db) / "000000000001.seg"  # what a collector that stopped abruptly left
    journal_folder(db).mkdir()
    segment.write_bytes(bytes(damage(bytearray(b"".join(records)), starts)))

    store = Store(db)
    metrics = CollectorMetrics()
    pipeline = IngestPipeline(store, metrics)
    try:
        kept = {row[0] for row in store.cursor().execute("SELECT id FROM events").fetchall()}
        expected = {f"r{n}-{i}" for n in range(RECORDS) if n not in lost_records for i in range(ROWS)}
        assert kept == expected
        assert pipeline.recovered == len(expected)
        quarantined = journal_folder(db) / "quarantine" / segment.name
        assert quarantined.read_bytes() == bytes(damage(bytearray(b"".join(records)), starts))
        assert not segment.exists()
        rendered = metrics.render().decode()
        assert ("bakeoff_journal_corrupt_records_total 1.0" in rendered) is corrupt
        assert ("corrupt; skipped to the next intact record" in caplog.text) is corrupt
    finally:
        pipeline.close()
        store.close()
