"""Ingest throughput of the collector at an earlier revision and of this tree, measured in the same run.

The earlier revision (default: the commit before the SQL-INSERT commit path, which replaced DuckDB's
relation insert so that a failed commit raises) is laid out from `git archive` as the installed package
tree and put first on PYTHONPATH; everything else is as in bench_collector_ingest.py.

Run: python bench/bench_collector_commit_path.py [--baseline REV] [--batches 600] [--rounds 2]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_collector_ingest import make_batches, measure

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {"sdk": "bakeoff", "collector": "bakeoff/collector", "replay": "bakeoff/replay"}


def lay_out(revision: str, target: Path) -> None:
    """The package tree of `revision` under `target` (bakeoff/, bakeoff/collector/, bakeoff/replay/)."""
    archive = subprocess.run(
        ["git", "archive", revision, *LAYOUT], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            folder, _, rest = member.name.partition("/")
            if member.isfile() and folder in LAYOUT:
                dest = target / LAYOUT[folder] / rest
                dest.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                assert extracted is not None
                dest.write_bytes(extracted.read())


def serve(tmp: str, name: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "bakeoff.cli", "serve", "--db", os.path.join(tmp, f"{name}.duckdb"),
        "--memory-limit", "256MB", "--port", str(port),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="0f6e391~1", help="the earlier revision (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2, help="alternations of baseline and this tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "baseline"
        lay_out(args.baseline, tree)
        for round_number in range(args.rounds):
            os.environ["PYTHONPATH"] = str(tree)
            measure(
                f"baseline {args.baseline} (round {round_number + 1})",
                serve(tmp, f"base{round_number}", 7893),
                "http://127.0.0.1:7893",
                make_batches(args.batches, f"base{round_number}"),
                tmp,
            )
            del os.environ["PYTHONPATH"]
            measure(
                f"this tree (round {round_number + 1})",
                serve(tmp, f"tree{round_number}", 7894),
                "http://127.0.0.1:7894",
                make_batches(args.batches, f"tree{round_number}"),
                tmp,
            )


if __name__ == "__main__":
    main()
