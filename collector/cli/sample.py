"""`bakeoff sample`: draw a reproducible, weighted sample of recorded events into a dataset."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from bakeoff.collector.cli.common import add_target, call_collector, open_store, uses_store
from bakeoff.errors import UsageError

STRATEGIES = ["random", "stratified", "feedback", "errors", "recent", "diverse"]


def _iso(value: str) -> str:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO timestamp: {value!r}") from None
    return value


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {number}")
    return number


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", required=True, choices=STRATEGIES)
    parser.add_argument("--n", required=True, type=_positive, help="sample size")
    parser.add_argument(
        "--by", choices=["tag", "model", "provider"], default="tag", help="strata (stratified)"
    )
    parser.add_argument("--allocation", choices=["proportional", "equal"], default="proportional")
    parser.add_argument("--tag", help="only events with this tag")
    parser.add_argument("--model", help="only events of this model")
    parser.add_argument("--provider", help="only events of this provider")
    parser.add_argument("--status", choices=["ok", "error"], help="only events of this status")
    parser.add_argument("--project", help="only events of this project")
    parser.add_argument("--since", type=_iso, help="only events from this time on (ISO 8601)")
    parser.add_argument("--until", type=_iso, help="only events before this time (ISO 8601)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same data: same sample")
    parser.add_argument("--name", required=True, help="the dataset's name")
    parser.add_argument("--replace", action="store_true", help="overwrite a dataset of that name")
    parser.add_argument("--out", metavar="FILE.jsonl", help="also write the dataset as JSON lines")
    add_target(parser)


def run(args: argparse.Namespace) -> int:
    filters = {
        k: getattr(args, k) for k in ("tag", "model", "provider", "status", "project", "since", "until")
    }
    if uses_store(args):
        summary, lines = _sample_in_file(args, filters)
    else:
        import orjson

        body = {
            "name": args.name,
            "strategy": args.strategy,
            "n": args.n,
            "by": args.by,
            "allocation": args.allocation,
            "seed": args.seed,
            "replace": args.replace,
            "filters": {k: v for k, v in filters.items() if v is not None},
        }
        summary = orjson.loads(call_collector(args, "POST", "/v1/samples", body))
        lines = call_collector(args, "GET", f"/v1/datasets/{args.name}") if args.out else b""
    if args.out:
        Path(args.out).write_bytes(lines)
    print(
        f"dataset {summary['dataset']}: {summary['size']} of {summary['population']} events "
        f"({summary['strategy']}, seed {summary['seed']}, weights: {summary['weighting']})"
        + (f" -> {args.out}" if args.out else "")
    )
    return 0


def _sample_in_file(args: argparse.Namespace, filters: dict[str, str | None]) -> tuple[dict, bytes]:
    from bakeoff.collector.datasets import create_sample, export_lines
    from bakeoff.collector.sampling import SampleSpec

    if args.db and not Path(args.db).exists():
        raise UsageError(f"--db {args.db}: no such file")
    store = open_store(args)
    try:
        spec = SampleSpec(args.strategy, args.n, args.by, args.allocation, args.seed, filters)
        summary = create_sample(store, args.name, spec, replace=args.replace)
        lines = b"".join(export_lines(store, args.name) or []) if args.out else b""
    finally:
        store.close()
    return summary, lines
