"""Shipping to a real receiver on loopback: batched, gzipped, authenticated, never blocking, never losing."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import bakeoff
from bakeoff.config import resolve_settings
from bakeoff.shipping.shipper import HttpShipper
from support.receiver import Receiver


def make_event(i: int) -> dict[str, Any]:
    return {
        "id": f"{i:032x}",
        "schema_version": 1,
        "project": "p",
        "ts": "2026-01-01T00:00:00Z",
        "provider": "openai",
        "api": "chat.completions",
        "model": "m",
        "request": {"n": i},
        "response": {"text": "x" * 100, "finish_reason": "stop", "tool_calls": None},
        "usage": {"input_tokens": 1, "output_tokens": 1},
        "latency_ms": 1.0,
        "ttft_ms": None,
        "stream": False,
        "status": "ok",
        "error": None,
        "tags": [],
        "attributes": {},
        "trace_id": None,
        "span_id": None,
    }


def shipper(receiver: Receiver, tmp_path: Path, **overrides: Any) -> HttpShipper:
    overrides.setdefault("flush_interval_s", 0.05)
    settings = resolve_settings(
        receiver.url, api_key="secret", spool_dir=str(tmp_path / "spool"), **overrides
    )
    return HttpShipper(settings)


def test_batches_are_gzipped_and_authenticated(receiver: Receiver, tmp_path: Path) -> None:
    ship = shipper(
        receiver, tmp_path, batch_size=10, compress=True
    )  # loopback is not compressed unless asked
    for i in range(35):
        ship.submit_event(make_event(i))
    ship.submit_feedback({"event_id": make_event(1)["id"], "score": 0.5, "comment": None, "ts": "t"})
    assert ship.flush(5)
    ship.shutdown()
    assert len(receiver.events) == 35 and len(receiver.feedback) == 1
    assert all(h["Authorization"] == "Bearer secret" for h in receiver.headers)
    assert all(h["Content-Encoding"] == "gzip" for h in receiver.headers)
    assert len(receiver.headers) >= 5  # batches of at most 10 events
    assert ship.stats()["sent"] == 36


def test_collector_down_then_back_delivers_everything_exactly_once(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.mode = "down"
    ship = shipper(receiver, tmp_path, batch_size=20)
    for i in range(100):
        ship.submit_event(make_event(i))
    assert not ship.flush(1.0)
    assert ship.stats()["spooled"] == 100 and receiver.events == {}
    receiver.mode = "ok"
    assert ship.flush(10)
    ship.shutdown()
    assert len(receiver.events) == 100 and set(receiver.deliveries.values()) == {1}


def test_spool_left_by_one_process_is_delivered_by_the_next(receiver: Receiver, tmp_path: Path) -> None:
    receiver.mode = "down"
    program = (
        "from bakeoff.config import resolve_settings; from bakeoff.shipping.shipper import HttpShipper\n"
        f"s = HttpShipper(resolve_settings('{receiver.url}', spool_dir=r'{tmp_path / 'spool'}'))\n"
        f"events = {[make_event(i) for i in range(30)]!r}\n"
        "[s.submit_event(e) for e in events]\n"
    )
    # The process exits without flushing: at exit the events are tried, then spooled.
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert receiver.events == {}
    receiver.mode = "ok"
    ship = shipper(receiver, tmp_path)
    assert ship.flush(10)
    ship.shutdown()
    assert len(receiver.events) == 30


def test_caller_never_waits_on_a_hanging_collector(receiver: Receiver, tmp_path: Path) -> None:
    receiver.mode = "hang"
    ship = shipper(receiver, tmp_path, batch_size=10, request_timeout_s=1.0)
    slowest = 0.0
    # A full collection of what earlier tests left in this process can pause any thread for 200+ ms;
    # frozen, those objects are not traversed, and the pause measured is ours alone.
    gc.freeze()
    try:
        for i in range(2000):
            start = time.perf_counter()
            ship.submit_event(make_event(i))
            slowest = max(slowest, time.perf_counter() - start)
    finally:
        gc.unfreeze()
    assert slowest < 0.05  # appends only: a hanging collector costs the caller nothing
    receiver.release.set()
    receiver.mode = "ok"
    assert ship.flush(15)
    ship.shutdown()
    assert len(receiver.events) == 2000


def test_full_queue_drops_and_counts(receiver: Receiver, tmp_path: Path) -> None:
    receiver.mode = "hang"
    ship = shipper(receiver, tmp_path, queue_size=50, batch_size=1000, flush_interval_s=60)
    for i in range(500):
        ship.submit_event(make_event(i))
    assert ship.stats()["queue_dropped"] == 450
    receiver.release.set()
    receiver.mode = "ok"
    ship.shutdown(10)


def test_spool_is_bounded_oldest_dropped_and_counted(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.mode = "down"
    ship = shipper(receiver, tmp_path, batch_size=10, spool_max_bytes=4000)
    for i in range(300):
        ship.submit_event(make_event(i))
    ship.flush(1.0)
    spool = tmp_path / "spool"
    assert sum(p.stat().st_size for p in spool.iterdir()) <= 4000
    stats = ship.stats()
    assert stats["spool_dropped"] > 0
    assert (
        stats["spool_dropped"] + sum(int(p.name.split("-")[4].split(".")[0]) for p in spool.iterdir()) == 300
    )
    assert any("spool" in r.getMessage() and "the oldest dropped" in r.getMessage() for r in caplog.records)
    receiver.mode = "ok"
    ship.shutdown(5)
    newest = max(int(e["id"], 16) for e in receiver.events.values())
    assert newest == 299  # what survived is the newest


def test_refused_batches_are_not_retried_forever(receiver: Receiver, tmp_path: Path) -> None:
    receiver.mode = "reject"
    ship = shipper(receiver, tmp_path)
    for i in range(5):
        ship.submit_event(make_event(i))
    assert not ship.flush(5)  # refused events are not delivered: flush says so
    assert ship.stats()["rejected"] == 5 and ship.spool.pending() == 0
    ship.shutdown()


def test_forked_child_ships_its_own_events(receiver: Receiver, tmp_path: Path) -> None:
    ship = shipper(receiver, tmp_path)
    ship.submit_event(make_event(1))
    assert ship.flush(5)
    pid = os.fork()
    if pid == 0:  # the child: its own queue and thread
        ship.submit_event(make_event(2))
        os._exit(0 if ship.flush(5) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ship.shutdown()
    assert set(receiver.deliveries) == {make_event(1)["id"], make_event(2)["id"]}
    assert set(receiver.deliveries.values()) == {1}


def test_memory_stays_bounded_under_a_burst_with_the_collector_down(
    receiver: Receiver, tmp_path: Path
) -> None:
    receiver.mode = "down"
    ship = shipper(receiver, tmp_path, queue_size=5000, spool_max_bytes=2_000_000)
    tracemalloc.start()
    for i in range(100_000):
        ship.submit_event(make_event(i))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = ship.stats()
    assert stats["queued"] <= 5000
    assert peak < 60_000_000  # bounded by the queue, not by the burst
    ship.shutdown(1)


def test_public_flush_and_shutdown_through_init(receiver: Receiver, tmp_path: Path) -> None:
    bakeoff.init(receiver.url, spool_dir=str(tmp_path / "s"), flush_interval_s=0.05)
    bakeoff.feedback("e1", 1.0)
    assert bakeoff.flush(5)
    assert bakeoff.stats()["sent"] == 1
    bakeoff.shutdown()
    assert receiver.feedback[0]["event_id"] == "e1"


def test_a_loopback_collector_gets_plain_json(receiver: Receiver, tmp_path: Path) -> None:
    ship = shipper(receiver, tmp_path)  # compressing for loopback would cost CPU and save nothing
    ship.submit_event(make_event(1))
    assert ship.flush(5)
    ship.shutdown()
    assert "Content-Encoding" not in receiver.headers[0] and len(receiver.events) == 1


def test_an_event_that_cannot_be_built_or_encoded_is_dropped_alone_and_counted(
    receiver: Receiver, tmp_path: Path
) -> None:
    ship = shipper(receiver, tmp_path, batch_size=50)
    cyclic = make_event(10_000)
    cyclic["request"]["self"] = cyclic["request"]  # a cycle: no JSON can hold it

    def broken() -> dict[str, Any]:
        raise RuntimeError("a redactor bug")

    for i in range(48):
        ship.submit_event(make_event(i))
    ship.submit_event(cyclic)
    ship.submit_event(broken)
    assert not ship.flush(5)
    stats = ship.stats()
    assert stats["dropped_encode"] == 1 and stats["dropped_build"] == 1 and stats["sent"] == 48
    assert len(receiver.events) == 48 and len(receiver.headers) == 1  # the 48 good ones in one batch
    assert stats["recorded"] == stats["sent"] + stats["undelivered"] == 50
    assert ship.flush(5)  # nothing new lost since: flush is True again
    ship.shutdown()


def test_losses_are_logged_once_a_minute_per_reason_not_once_per_event(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.mode = "reject"
    ship = shipper(receiver, tmp_path, batch_size=1)
    for i in range(20):
        ship.submit_event(make_event(i))
    assert not ship.flush(10)
    assert ship.stats()["rejected"] == 20
    lines = [r for r in caplog.records if "not delivered (rejected" in r.getMessage()]
    assert len(lines) == 1
    ship.shutdown()
