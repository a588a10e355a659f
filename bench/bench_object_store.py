"""A DuckLake replica whose data path is an S3 bucket, next to one on a local folder, in the same run.

The S3 server is moto's, in this process on 127.0.0.1 (no cloud here): every request crosses a real
HTTP connection and moto's Python request handling, so it is slower than a local disk in ways a real
object store is too (a request per file, no append), though its latency is a LAN's, not a region's.
Alternating rounds, each on a fresh catalog: the load of `bench_collector_ingest.py` (batches of 100
events of ~2 KB, 4 clients) against one replica, then reads on what it stored: a page of events, a
random sample of 1,000, `/v1/stats`.

Printed per round: events/s acknowledged and until committed, the replica's CPU per event, and the
reads' times, each S3 figure as a ratio to the local folder's of the same round.

Run: python bench/bench_object_store.py [--batches 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples" / "deploy"))
sys.path.insert(0, str(REPO / "tests"))

from bench_collector_ingest import make_batches  # noqa: E402
from bench_ducklake import cpu_seconds, drive  # noqa: E402
from local_cluster import LocalCluster  # noqa: E402

from support.postgres import Cluster, start_cluster  # noqa: E402
from support.s3 import S3Server  # noqa: E402


def _read_ms(url: str, path: str, body: dict[str, object] | None = None) -> float:
    request = urllib.request.Request(
        url + path,
        data=orjson.dumps(body) if body is not None else None,
        headers={"Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
    return 1000 * (time.perf_counter() - started)


def one(folder: Path, pg: Cluster, batches: int, data_path: str | None, s3: S3Server) -> dict[str, float]:
    """One replica on a fresh catalog: ingest `batches`, then the reads; its figures."""
    env = s3.env if data_path else None
    with LocalCluster(folder, 1, postgres=pg, data_path=data_path, env=env) as cluster:
        replica = cluster.replicas[0]
        assert replica.process is not None
        url = replica.url
        drive([url], make_batches(5, f"warm-{time.monotonic_ns()}"))
        before = cpu_seconds(replica.process.pid)
        events, acked, committed = drive([url], make_batches(batches, "load"))
        spent = cpu_seconds(replica.process.pid) - before
        reads = {
            "page": [_read_ms(url, "/v1/events?limit=50") for _ in range(5)],
            "sample": [
                _read_ms(url, "/v1/samples", {"name": f"s{i}", "strategy": "random", "n": 1000, "seed": i})
                for i in range(3)
            ],
            "stats": [_read_ms(url, "/v1/stats") for _ in range(5)],
        }
        return {
            "acked": events / acked,
            "committed": events / committed,
            "cpu_us": 1e6 * spent / events,
            **{name: statistics.median(times) for name, times in reads.items()},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=300, help="batches of 100 events per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, S3Server() as s3:
        folder = Path(tmp)
        pg = start_cluster(folder / "postgres")
        try:
            for number in range(args.rounds):
                local = one(folder / f"local-{number}", pg, args.batches, None, s3)
                remote = one(folder / f"s3-{number}", pg, args.batches, f"s3://{s3.bucket}/r{number}/", s3)
                print(
                    f"round {number}: ingest acknowledged {remote['acked']:,.0f} vs {local['acked']:,.0f} "
                    f"events/s = {remote['acked'] / local['acked']:.2f}x"
                )
                print(
                    f"round {number}: ingest until committed {remote['committed']:,.0f} vs "
                    f"{local['committed']:,.0f} events/s = {remote['committed'] / local['committed']:.2f}x"
                )
                print(
                    f"round {number}: replica CPU per event {remote['cpu_us']:.0f} vs "
                    f"{local['cpu_us']:.0f} µs = {remote['cpu_us'] / local['cpu_us']:.2f}x"
                )
                for name in ("page", "sample", "stats"):
                    print(
                        f"round {number}: {name} {remote[name]:.0f} vs {local[name]:.0f} ms"
                        f" = {remote[name] / local[name]:.2f}x"
                    )
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
