"""A DuckLake whose data path is an object store: `bakeoff serve --data-path s3://BUCKET/PREFIX/`.

Two real `bakeoff serve` replicas on a real PostgreSQL catalog write their Parquet files to an S3
server on 127.0.0.1 (moto's; the AWS cloud cannot exist here), with the credentials and endpoint in
the AWS variables every AWS client reads. What holds on a shared folder holds there: an id stored once
across replicas, nothing acknowledged lost to kill -9, the same samples on every replica, housekeeping
merging and deleting files in the bucket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from bakeoff.cli import main
from bakeoff.collector import housekeeping
from bakeoff.collector.ducklake import DuckLakeStore
from support.cluster_reads import assert_stored_once_everywhere, batch, dataset_rows, ids_of
from support.deploy import LocalCluster
from support.postgres import Cluster
from support.s3 import S3Server

pytestmark = pytest.mark.embedded_only("these tests start a DuckLake cluster of their own")

PREFIX = "bakeoff/lake"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(
    s3: S3Server, postgres_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalCluster]:
    data_path = f"s3://{s3.bucket}/{PREFIX}/"
    folder = tmp_path_factory.mktemp("s3-cluster")
    with LocalCluster(folder, 2, postgres=postgres_cluster, data_path=data_path, env=s3.env) as started:
        yield started


def _round_done(store: DuckLakeStore) -> bool:
    """One housekeeping round, as a replica's loop runs it: not done while a replica's own round holds
    the cluster's lock (a restarted replica runs one at once), or when its merge conflicts with a
    replica's commit (the loop retries at its next interval; here, at once)."""
    try:
        return housekeeping.run_round(store, interval_s=0, keep_s=0) is not None
    except duckdb.TransactionException:
        return False


def _parquet_keys(s3: S3Server) -> list[str]:
    return [key for key in s3.keys(PREFIX + "/") if key.endswith(".parquet")]


async def test_retried_and_killed_replicas_lose_nothing_on_the_object_store(
    cluster: LocalCluster, s3: S3Server
) -> None:
    """Every other batch sent to both replicas at once, one replica killed (-9) mid-load and restarted on
    its journal: every acknowledged event is stored once and read from both; the files are in the
    bucket and nowhere on the local disk."""
    urls = cluster.urls
    victim = cluster.replicas[1]
    batches = [batch("on-s3", number) for number in range(40)]
    killed = asyncio.Event()
    acknowledged = 0

    limit = asyncio.Semaphore(4)

    async def send(client: httpx.AsyncClient, number: int, events: list[dict[str, object]]) -> None:
        nonlocal acknowledged
        firsts = [number % 2] + ([(number + 1) % 2] if number % 2 == 0 else [])
        async with limit:
            for first in firsts:
                for attempt in range(4):  # the SDK's retry: on the other replica when one is gone
                    try:
                        url = urls[(first + attempt) % 2]
                        response = await client.post(url + "/v1/events", json={"events": events})
                    except httpx.TransportError:
                        continue
                    assert response.status_code == 202, response.text
                    acknowledged += 1
                    if acknowledged >= 20 and not killed.is_set():
                        killed.set()
                        await asyncio.to_thread(victim.kill)
                    break
                else:
                    raise AssertionError(f"batch {number} was acknowledged nowhere")

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(send(client, n, events) for n, events in enumerate(batches)))
    assert killed.is_set()
    await asyncio.to_thread(victim.start)  # replays what it acknowledged, to the bucket
    assert_stored_once_everywhere(cluster, "on-s3", ids_of(batches))
    assert _parquet_keys(s3), "no Parquet file reached the bucket"
    assert not list(Path(cluster.folder).rglob("*.parquet")), "Parquet files on the local disk"


def test_samples_drawn_on_either_replica_are_the_same(cluster: LocalCluster) -> None:
    tag = "sampled-on-s3"
    for number in range(6):
        response = httpx.post(
            cluster.urls[number % 2] + "/v1/events", json={"events": batch(tag, number)}, timeout=60
        )
        assert response.status_code == 202
    assert_stored_once_everywhere(cluster, tag, ids_of([batch(tag, n) for n in range(6)]))
    spec = {"strategy": "random", "n": 40, "seed": 5, "filters": {"tag": tag}}
    for url, name in zip(cluster.urls, ["s3-first", "s3-second"], strict=True):
        response = httpx.post(url + "/v1/samples", json={"name": name, **spec}, timeout=60)
        assert response.status_code == 201, response.text
    drawn = dataset_rows(cluster.urls[0], "s3-first")
    assert len(drawn) == 40 and drawn == dataset_rows(cluster.urls[1], "s3-second")
    assert drawn == dataset_rows(cluster.urls[1], "s3-first")


def test_housekeeping_merges_and_removes_files_in_the_bucket(
    cluster: LocalCluster, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round (in this process, on the same catalog and bucket) merges the replicas' small files into
    fewer, deletes the replaced ones from the bucket once no snapshot needs them, and every event
    still reads back."""
    tag = "merged-on-s3"
    sent = [batch(tag, number) for number in range(8)]
    for number, events in enumerate(sent):  # one small commit each: a file each
        response = httpx.post(cluster.urls[number % 2] + "/v1/events", json={"events": events}, timeout=60)
        assert response.status_code == 202
        assert httpx.get(cluster.urls[number % 2] + "/healthz", timeout=60).status_code == 200
    before = set(_parquet_keys(s3))
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    store = DuckLakeStore(cluster.catalog, str(cluster.data_path))
    try:
        deadline = time.monotonic() + 60
        while not _round_done(store):
            assert time.monotonic() < deadline, "no housekeeping round could finish"
            time.sleep(0.5)
    finally:
        store.close()
    after = set(_parquet_keys(s3))
    assert after - before, "no merged file was written"
    assert before - after, "no replaced file was deleted from the bucket"
    assert len(after) < len(before)
    assert_stored_once_everywhere(cluster, tag, ids_of(sent))


@pytest.mark.parametrize(
    ("data_path", "needle"),
    [
        ("gs://lake/x/", "gs:// is not supported"),
        ("s3:///x/", "no bucket"),
        ("s3://no-such-bucket/x/", "cannot list it"),
    ],
)
def test_a_data_path_that_cannot_hold_the_lake_is_one_line(
    s3: S3Server,
    postgres_cluster: Cluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_path: str,
    needle: str,
) -> None:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    catalog = postgres_cluster.createdb(f"refused_{abs(hash(data_path)) % 10**8}")
    args = ["serve", "--store", "ducklake", "--catalog", catalog, "--data-path", data_path]
    status = main([*args, "--journal", str(tmp_path / "journal")])
    stderr = capsys.readouterr().err
    assert status == 2 and stderr.count("\n") == 1 and needle in stderr, stderr
