"""The disk-full drill: the collector's disk fills under load; writes get 507 with a reason, reads and
/healthz keep answering, and once space returns (no restart) writes are accepted again and every
acknowledged event reads back.

Two walls: a 64 MB tmpfs the test mounts (as root), and a file-size limit (RLIMIT_FSIZE) on the
collector process, which the test lifts to give the space back (for anyone).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from support.collector import CollectorProcess

pytestmark = pytest.mark.embedded_only(
    "about the DuckDB file on a full disk (its write-ahead log and checkpoint)"
)

FREE_WHEN_FULL = 6 * 1024 * 1024  # what the filler leaves, so that the drill fills the rest quickly
FSIZE_LIMIT = 8 * 1024 * 1024


class SmallDisk:
    """A folder whose space runs out, and a way to give it back."""

    def __init__(self, folder: Path, preexec: Callable[[], None] | None) -> None:
        self.folder = folder
        self.preexec = preexec
        self.pid: int | None = None

    def fill(self) -> None:
        if self.preexec is not None:
            return  # the file-size limit is the wall
        stats = os.statvfs(self.folder)
        spare = stats.f_bavail * stats.f_frsize - FREE_WHEN_FULL
        with (self.folder / "filler").open("wb") as filler:
            filler.truncate(0)
            chunk = b"\0" * (1024 * 1024)
            while spare > 0:
                spare -= filler.write(chunk[: min(len(chunk), spare)])

    def free(self) -> None:
        if self.preexec is None:
            (self.folder / "filler").unlink()
        else:
            assert self.pid is not None
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)


def _limit_file_size() -> None:
    # SIG_IGN survives exec: a write past the limit then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, resource.RLIM_INFINITY))


WALLS = ["file-size-limit", *(["tmpfs"] if os.geteuid() == 0 and shutil.which("mount") else [])]


@pytest.fixture(params=WALLS)
def small_disk(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SmallDisk]:
    folder = tmp_path / "disk"
    folder.mkdir()
    if request.param == "file-size-limit":
        yield SmallDisk(folder, _limit_file_size)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], check=True)
    try:
        yield SmallDisk(folder, None)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def events(prefix: str, count: int = 50) -> list[dict[str, object]]:
    return [
        {
            "id": f"{prefix}-{i}",
            "ts": "2026-03-01T10:00:00Z",
            "provider": "openai",
            "api": "chat.completions",
            "request": {"messages": [{"role": "user", "content": f"{prefix} {i} " + "x" * 1500}]},
        }
        for i in range(count)
    ]


def stored_ids(url: str) -> set[str]:
    stored: set[str] = set()
    offset = 0
    while True:
        page = httpx.get(url + "/v1/events", params={"limit": 1000, "offset": offset}, timeout=30).json()
        stored |= {e["id"] for e in page["events"]}
        offset += 1000
        if offset >= page["total"]:
            return stored


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_disk_full_refuses_with_507_and_recovers_without_a_restart(small_disk: SmallDisk) -> None:
    collector = CollectorProcess(small_disk.folder / "full.duckdb", preexec=small_disk.preexec).start()
    small_disk.pid = collector.pid
    try:
        small_disk.fill()
        acked: list[str] = []
        statuses: dict[int, int] = {}
        reasons: set[str] = set()
        lock = threading.Lock()
        full = threading.Event()
        degraded_seen = threading.Event()

        def client(worker: int) -> None:
            with httpx.Client(timeout=30) as http:
                for batch in range(2_000):
                    ids = events(f"w{worker}-{batch}")
                    response = http.post(collector.url + "/v1/events", json={"events": ids})
                    with lock:
                        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                        if response.status_code == 202:
                            acked.extend(e["id"] for e in ids)  # type: ignore[misc]
                        else:
                            reasons.add(response.json()["error"])
                    if response.status_code == 507:
                        full.set()
                    # Go on writing into the full disk until /healthz has been seen degraded: a failed
                    # write can give back the space that makes the next probe pass, so the state blinks.
                    if full.is_set() and degraded_seen.is_set() and batch % 5 == 4:
                        return

        health_seen: list[dict[str, object]] = []

        def watch_health() -> None:
            with httpx.Client(timeout=10) as http:
                while any(thread.is_alive() for thread in threads):
                    answer = http.get(collector.url + "/healthz")
                    assert answer.status_code == 200
                    health_seen.append(answer.json())
                    if health_seen[-1]["status"] == "degraded":
                        degraded_seen.set()
                    time.sleep(0.02)

        threads = [threading.Thread(target=client, args=(w,)) for w in range(3)]
        for thread in threads:
            thread.start()
        watch_health()
        for thread in threads:
            thread.join()
        assert full.is_set(), statuses
        assert set(statuses) <= {202, 507}, statuses  # never a bare 500
        assert any("disk is full" in reason for reason in reasons), reasons
        assert len(acked) > 500

        # Degraded while appends or commits fail; the space a failed write gives back may end it.
        degraded = [h for h in health_seen if h["status"] == "degraded"]
        assert degraded and all("disk is full" in str(h["reason"]) for h in degraded), health_seen[-3:]
        assert httpx.get(collector.url + "/healthz", timeout=10).status_code == 200
        assert httpx.get(collector.url + "/v1/events", params={"limit": 5}, timeout=10).status_code == 200

        small_disk.free()
        assert wait_for(lambda: httpx.get(collector.url + "/healthz").json()["status"] == "ok", 20)
        after = events("after")
        response = httpx.post(collector.url + "/v1/events", json={"events": after}, timeout=30)
        assert response.status_code == 202
        lost = set(acked) - stored_ids(collector.url)
        print(f"disk-full drill: {len(acked)} acknowledged, {len(lost)} lost, statuses {statuses}")
        assert not lost
        assert {e["id"] for e in after} <= stored_ids(collector.url)
    finally:
        collector.stop()
