"""A 202 means durable: kill -9 during load, restart, and every acknowledged event is there."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from support.collector import CollectorProcess


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "crash.duckdb"
    collector = CollectorProcess(db).start()
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(timeout=5) as http:
            for batch in range(10_000):
                if stop.is_set():
                    return
                ids = [f"w{worker}-b{batch}-{i}" for i in range(50)]
                events = [
                    {
                        "id": i,
                        "ts": "2026-03-01T10:00:00Z",
                        "provider": "openai",
                        "api": "chat.completions",
                        "request": {"messages": [{"role": "user", "content": "x" * 500}]},
                    }
                    for i in ids
                ]
                try:
                    response = http.post(collector.url + "/v1/events", json={"events": events})
                except httpx.HTTPError:
                    return
                if response.status_code == 202:
                    with lock:
                        acked.extend(ids)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    # Kill mid-load once enough has been acknowledged (a loaded machine takes longer to get there).
    deadline = time.monotonic() + 60
    while len(acked) <= 1000 and time.monotonic() < deadline:
        time.sleep(0.05)
    collector.kill()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acked) > 1000
    restarted = CollectorProcess(db).start()
    try:
        stored = set()
        offset = 0
        while True:
            page = httpx.get(restarted.url + "/v1/events", params={"limit": 1000, "offset": offset}).json()
            stored |= {e["id"] for e in page["events"]}
            offset += 1000
            if offset >= page["total"]:
                break
        assert set(acked) <= stored
    finally:
        restarted.stop()
