"""A read on one replica sees what another acknowledged and has not committed yet (the read barrier).

Two `bakeoff serve --store ducklake` processes on one catalog (the deployment example's topology). To
hold a replica's commit back for as long as a test needs, the test locks the claims table in the
catalog (`LOCK TABLE bakeoff_claims IN SHARE MODE`): the replica still acknowledges (its journal is the
ack point, and looking ids up in the claims still works), but its commit, which claims the ids first,
waits for the lock. Without the barrier a read on the other replica answers at once without the events.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bakeoff.collector.read_barrier import BEHIND_HEADER, TIMEOUT_ENV
from support.deploy import LocalCluster, Replica
from support.postgres import Cluster

pytestmark = pytest.mark.embedded_only("these tests start a DuckLake cluster of their own")

TIMEOUT_S = 4.0  # how long the replicas' reads wait for another replica at most (see the fixture)
HELD_S = 1.5  # how long a test holds a commit back while reads wait


@pytest.fixture(scope="module")
def cluster(postgres_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIMEOUT_ENV, str(TIMEOUT_S))  # the replicas' processes inherit it
        with LocalCluster(tmp_path_factory.mktemp("barrier"), 2, postgres=postgres_cluster) as started:
            yield started


def _events(tag: str, count: int = 40) -> list[dict[str, object]]:
    return [
        {
            "id": f"{tag}-{i}",
            "ts": f"2026-11-20T10:{i % 60:02d}:00Z",
            "provider": "openai",
            "api": "chat.completions",
            "model": "gpt-4o-mini",
            "tags": [tag],
            "request": {"messages": [{"role": "user", "content": f"question {i}"}]},
            "response": {"text": f"answer {i}"},
        }
        for i in range(count)
    ]


@contextlib.contextmanager
def commits_held(catalog: str) -> Iterator[None]:
    """Every replica's commits wait while this is open (acknowledging goes on)."""
    with psycopg.connect(catalog) as pg:
        pg.execute("LOCK TABLE bakeoff_claims IN SHARE MODE")
        yield
        pg.rollback()


def _acknowledge(replica: Replica, events: list[dict[str, object]]) -> None:
    response = httpx.post(replica.url + "/v1/events", json={"events": events}, timeout=30)
    assert response.status_code == 202 and response.json()["accepted"] == len(events), response.text


def _replica_id(replica: Replica) -> str:
    return (replica.journal / "replica").read_text().strip()


class _Background:
    """A call run in a thread: whether it is done, and its result."""

    def __init__(self, call: Callable[[], httpx.Response]) -> None:
        self.result: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], httpx.Response]) -> None:
        self.result = call()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def get(self, timeout: float = 60) -> httpx.Response:
        self._thread.join(timeout)
        assert self.result is not None, "the read never answered"
        return self.result


def _reads(url: str, tag: str) -> dict[str, Callable[[], httpx.Response]]:
    """A listing, one event, a search and a sample of `tag`'s events, each as a call."""
    return {
        "list": lambda: httpx.get(url + "/v1/events", params={"tag": tag, "limit": 1000}, timeout=60),
        # the dashboard's search: a read through the store like every GET /v1/..., not one route of a list
        "search": lambda: httpx.get(url + "/v1/search", params={"tag": tag, "limit": 5}, timeout=60),
        "one": lambda: httpx.get(f"{url}/v1/events/{tag}-7", timeout=60),
        "sample": lambda: httpx.post(
            url + "/v1/samples",
            json={"name": f"{tag}-sample", "strategy": "random", "n": 10, "seed": 3, "filters": {"tag": tag}},
            timeout=60,
        ),
    }


def _check_complete(answers: dict[str, httpx.Response], tag: str, count: int) -> None:
    listed, one, sample = answers["list"], answers["one"], answers["sample"]
    assert listed.status_code == 200 and listed.json()["total"] == count, listed.text
    assert one.status_code == 200 and one.json()["response"]["text"] == "answer 7", one.text
    assert sample.status_code == 201 and sample.json()["population"] == count, sample.text
    assert sample.json()["size"] == 10
    assert answers["search"].status_code == 200 and answers["search"].json()["total"] == count
    for answer in answers.values():
        assert BEHIND_HEADER not in answer.headers


def test_reads_wait_for_events_another_replica_acknowledged(cluster: LocalCluster) -> None:
    """Acknowledged on B, its commit held back: a listing, the event by id and a sample on A wait until
    B commits, then have every event."""
    a, b = cluster.replicas
    tag = "held"
    with commits_held(cluster.catalog):
        _acknowledge(b, _events(tag))
        reads = {name: _Background(call) for name, call in _reads(a.url, tag).items()}
        time.sleep(HELD_S)
        assert not any(read.done() for read in reads.values()), "a read answered before B committed"
    _check_complete({name: read.get() for name, read in reads.items()}, tag, 40)


def test_a_read_with_nothing_pending_does_not_wait(cluster: LocalCluster) -> None:
    a, b = cluster.replicas
    _acknowledge(b, _events("quiet", 5))
    httpx.get(b.url + "/healthz", timeout=30)  # B's own reads wait for its commit
    started = time.monotonic()
    listed = httpx.get(a.url + "/v1/events", params={"tag": "quiet"}, timeout=30)
    assert listed.json()["total"] == 5 and BEHIND_HEADER not in listed.headers
    assert time.monotonic() - started < TIMEOUT_S / 2


def test_a_replica_behind_past_the_timeout_is_named_then_not_waited_for(cluster: LocalCluster) -> None:
    """B's commit held back past the timeout: A answers after it, naming B; the next read does not
    wait again while B is stuck; once B commits, reads are whole and name nobody."""
    a, b = cluster.replicas
    tag = "stuck"
    with commits_held(cluster.catalog):
        _acknowledge(b, _events(tag))
        started = time.monotonic()
        first = httpx.get(a.url + "/v1/events", params={"tag": tag}, timeout=60)
        waited = time.monotonic() - started
        again = httpx.get(a.url + "/v1/events", params={"tag": tag}, timeout=60)
        waited_again = time.monotonic() - started - waited
    assert TIMEOUT_S <= waited < TIMEOUT_S + 5, waited
    assert first.json()["total"] == 0 and first.headers[BEHIND_HEADER] == _replica_id(b)
    assert waited_again < TIMEOUT_S / 2 and again.headers[BEHIND_HEADER] == _replica_id(b)
    # B's commit goes on once the lock is gone; until its mark moves, A still answers without waiting.
    assert httpx.get(b.url + "/healthz", timeout=60).status_code == 200  # B's reads wait for B's commit
    _check_complete({name: call() for name, call in _reads(a.url, tag).items()}, tag, 40)
    assert "is behind after" in a.log.read_text()


def test_a_dead_replica_is_named_not_waited_for(cluster: LocalCluster) -> None:
    """B acknowledges, then dies (kill -9) before committing: A does not wait for it, answers with what
    is committed and names B (header and log); B restarted on its journal commits the events."""
    a, b = cluster.replicas
    tag = "orphaned"
    with commits_held(cluster.catalog):
        _acknowledge(b, _events(tag))
        b.kill()
        started = time.monotonic()
        answers: dict[str, Any] = {name: call() for name, call in _reads(a.url, tag).items()}
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT_S, elapsed  # three reads, none waited out the timeout
    for answer in answers.values():
        assert answer.headers[BEHIND_HEADER] == _replica_id(b), answer.headers
    assert answers["list"].json()["total"] == 0 and answers["search"].json()["total"] == 0
    assert answers["one"].status_code == 404
    assert "is down" in a.log.read_text() or "went down" in a.log.read_text()
    b.start()  # replays its journal: what it acknowledged is committed
    answers = {name: call() for name, call in _reads(a.url, f"{tag}").items() if name != "sample"}
    assert answers["list"].json()["total"] == 40 and BEHIND_HEADER not in answers["list"].headers
    assert answers["one"].status_code == 200


def test_restarted_replica_marks_do_not_move_back(cluster: LocalCluster, tmp_path: Path) -> None:
    """A replica stopped and started again continues its marks: what it acknowledges next is waited for."""
    a, b = cluster.replicas
    b.stop()
    b.start()
    tag = "after-restart"
    with commits_held(cluster.catalog):
        _acknowledge(b, _events(tag, 10))
        listed = _Background(_reads(a.url, tag)["list"])
        time.sleep(HELD_S)
        assert not listed.done()
    assert listed.get().json()["total"] == 10
