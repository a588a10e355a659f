"""Three `bakeoff serve --store ducklake` processes on one catalog and data path are one collector.

The topology is the deployment example's (`examples/deploy/local_cluster.py`): real uvicorn processes,
a real PostgreSQL catalog, a shared data path. Each test tags its events with a tag of its own and reads
them back by that tag, so the tests share one cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.cluster_reads import (
    assert_stored_once_everywhere,
    batch,
    committed_everywhere,
    dataset_rows,
    ids_of,
)
from support.deploy import LocalCluster, Replica
from support.postgres import Cluster

pytestmark = pytest.mark.embedded_only("these tests start a DuckLake cluster of their own")


@pytest.fixture(scope="module")
def cluster(postgres_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path_factory.mktemp("cluster"), 3, postgres=postgres_cluster) as started:
        yield started


async def test_batches_retried_against_another_replica_are_stored_once(cluster: LocalCluster) -> None:
    """Every other batch goes to two replicas at the same moment (an SDK retrying elsewhere after a
    timeout): exact count, no duplicate id, every event readable from every replica."""
    urls = cluster.urls
    batches = [batch("overlap", number) for number in range(60)]
    limit = asyncio.Semaphore(6)

    async def send(client: httpx.AsyncClient, number: int, events: list[dict[str, object]]) -> None:
        targets = [urls[number % 3]] + ([urls[(number + 1) % 3]] if number % 2 == 0 else [])
        async with limit:
            responses = await asyncio.gather(
                *(client.post(url + "/v1/events", json={"events": events}) for url in targets)
            )
        assert [r.status_code for r in responses] == [202] * len(targets), [r.text for r in responses]

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(send(client, n, events) for n, events in enumerate(batches)))
    assert_stored_once_everywhere(cluster, "overlap", ids_of(batches))
    event = httpx.get(f"{urls[2]}/v1/events/overlap-0-7", timeout=30)
    assert event.status_code == 200 and event.json()["response"]["text"] == "answer 0 7"


async def test_a_replica_killed_mid_load_loses_nothing_it_acknowledged(cluster: LocalCluster) -> None:
    """kill -9 one replica while it takes a third of the load, retry its batches elsewhere (as the SDK
    does), restart it on its journal: every acknowledged event is stored, once, readable everywhere."""
    victim = cluster.replicas[2]
    urls = cluster.urls
    batches = [batch("killed", number) for number in range(90)]
    acknowledged_by_victim: set[str] = set()
    killed = asyncio.Event()
    limit = asyncio.Semaphore(6)

    async def send(client: httpx.AsyncClient, number: int, events: list[dict[str, object]]) -> None:
        async with limit:
            for attempt in range(6):
                url = urls[(number + attempt) % 3]
                try:
                    response = await client.post(url + "/v1/events", json={"events": events})
                except httpx.TransportError:
                    continue  # the replica is gone: the next one
                assert response.status_code == 202, response.text
                if url == victim.url:
                    acknowledged_by_victim.update(str(e["id"]) for e in events)
                    if len(acknowledged_by_victim) >= 600 and not killed.is_set():
                        killed.set()
                        await asyncio.to_thread(victim.kill)
                return
            raise AssertionError(f"batch {number} was acknowledged nowhere")

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(send(client, n, events) for n, events in enumerate(batches)))
    assert killed.is_set()
    await asyncio.to_thread(victim.start)  # on the same journal: replays what it acknowledged
    expected = ids_of(batches)
    assert acknowledged_by_victim <= expected
    assert_stored_once_everywhere(cluster, "killed", expected)


@pytest.mark.parametrize("strategy", ["random", "stratified"])
def test_samples_are_the_same_on_every_replica(cluster: LocalCluster, strategy: str) -> None:
    """The same seed on two replicas draws the same dataset; a dataset made on one downloads from another."""
    tag = f"sampled-{strategy}"
    batches = [batch(tag, number) for number in range(12)]
    for number, events in enumerate(batches):  # spread over the replicas
        response = httpx.post(cluster.urls[number % 3] + "/v1/events", json={"events": events}, timeout=60)
        assert response.status_code == 202
    committed_everywhere(cluster)
    first, second, third = cluster.replicas
    spec = {"strategy": strategy, "n": 60, "seed": 11, "filters": {"tag": tag}}
    made: dict[str, Replica] = {f"{tag}-on-first": first, f"{tag}-on-second": second}
    for name, replica in made.items():
        response = httpx.post(replica.url + "/v1/samples", json={"name": name, **spec}, timeout=60)
        assert response.status_code == 201, response.text
        assert response.json()["size"] == 60
    drawn_on_first = dataset_rows(first.url, f"{tag}-on-first")
    assert len(drawn_on_first) == 60 and len({i for i, _ in drawn_on_first}) == 60
    assert drawn_on_first == dataset_rows(second.url, f"{tag}-on-second")  # same seed, same sample
    assert drawn_on_first == dataset_rows(third.url, f"{tag}-on-first")  # made on one, read on another
    listed = httpx.get(third.url + "/v1/datasets", timeout=30).json()
    assert {f"{tag}-on-first", f"{tag}-on-second"} <= {d["name"] for d in listed["datasets"]}


def test_the_example_script_starts_and_stops_the_topology(tmp_path: Path) -> None:
    """`python examples/deploy/local_cluster.py --replicas 2 --dir DIR`: URLs printed, every replica
    answers, Ctrl-C (SIGINT) stops them all and PostgreSQL."""
    import signal
    import subprocess
    import sys
    import time

    from support.ports import free_ports

    script = Path(__file__).resolve().parents[2] / "examples" / "deploy" / "local_cluster.py"
    port = free_ports(2)
    process = subprocess.Popen(
        [sys.executable, str(script), "--replicas", "2", "--dir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while not any("Ctrl-C" in line for line in lines):
            line = process.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        urls = [word for line in lines for word in line.split() if word.startswith("http://")]
        assert urls == [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"], lines
        for url in urls:
            assert httpx.get(url + "/healthz", timeout=10).json()["status"] == "ok"
        process.send_signal(signal.SIGINT)
        assert process.wait(120) == 0, process.stdout.read()
    finally:
        if process.poll() is None:  # a failed check above: the topology must not outlive the test
            process.send_signal(signal.SIGINT)
            process.wait(120)
        process.stdout.close()
    for url in urls:
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/healthz", timeout=2)


async def test_one_dataset_name_made_on_two_replicas_at_once_is_made_once(cluster: LocalCluster) -> None:
    """Two replicas asked for the same new dataset name at the same moment: one makes it (201), the
    other answers 409, and the dataset has its rows once; with "replace", both succeed one after the
    other and the dataset is the last one's, whole."""
    tag = "named"
    response = httpx.post(cluster.urls[0] + "/v1/events", json={"events": batch(tag, 0)}, timeout=60)
    assert response.status_code == 202
    committed_everywhere(cluster)
    first, second = cluster.urls[0], cluster.urls[1]

    async def both(client: httpx.AsyncClient, name: str, **extra: object) -> list[int]:
        body = {"name": name, "strategy": "random", "n": 20, "filters": {"tag": tag}, **extra}
        answers = await asyncio.gather(
            client.post(first + "/v1/samples", json={**body, "seed": 1}),
            client.post(second + "/v1/samples", json={**body, "seed": 2}),
        )
        return sorted(answer.status_code for answer in answers)

    async with httpx.AsyncClient(timeout=60) as client:
        for attempt in range(6):
            name = f"{tag}-{attempt}"
            assert await both(client, name) == [201, 409]
            rows = dataset_rows(cluster.urls[2], name)
            assert len(rows) == 20 and len({i for i, _ in rows}) == 20
            assert await both(client, name, replace=True) == [201, 201]
            assert len(dataset_rows(cluster.urls[2], name)) == 20
    listed = [d["name"] for d in httpx.get(cluster.urls[2] + "/v1/datasets", timeout=30).json()["datasets"]]
    assert sorted(n for n in listed if n.startswith(f"{tag}-")) == [f"{tag}-{i}" for i in range(6)]


async def test_one_run_saved_on_two_replicas_at_once_is_stored_once(cluster: LocalCluster) -> None:
    """`bakeoff replay` publishing one run to two replicas at the same moment (a retry elsewhere): the
    run is listed once and its answers are each row once, the last writer's, whole."""

    def run(run_id: str, text: str) -> dict[str, object]:
        rows = [
            {
                "event_id": f"e{i}",
                "provider": provider,
                "output": {"text": text},
                "scores": {"exact": {"score": 1.0}},
            }
            for i in range(30)
            for provider in ["base", "cand"]
        ]
        return {
            "run": {"run_id": run_id},
            "benchmark": {"providers": ["base", "cand"], "primary_metric": "exact", "metrics": {}},
            "comparison": {"baseline": "base"},
            "rows": rows,
        }

    async with httpx.AsyncClient(timeout=60) as client:
        for attempt in range(6):
            run_id = f"twice-{attempt}"
            answers = await asyncio.gather(
                client.post(cluster.urls[0] + "/v1/runs", json=run(run_id, "first")),
                client.post(cluster.urls[1] + "/v1/runs", json=run(run_id, "second")),
            )
            assert [a.status_code for a in answers] == [201, 201]
            page = httpx.get(
                f"{cluster.urls[2]}/v1/runs/{run_id}/answers",
                params={"candidate": "cand", "limit": 1000},
                timeout=60,
            ).json()
            assert page["total"] == 30, page["total"]
            texts = {row["candidate"]["output"]["text"] for row in page["rows"]}
            assert len(texts) == 1 and texts <= {"first", "second"}
    listed = [r["run_id"] for r in httpx.get(cluster.urls[2] + "/v1/runs", timeout=30).json()["runs"]]
    assert sorted(r for r in listed if r.startswith("twice-")) == [f"twice-{i}" for i in range(6)]
