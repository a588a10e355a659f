"""`bakeoff replay`: re-run a dataset against the configured providers, score, compare, write the run."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from bakeoff.errors import UsageError
from bakeoff.replay.cli.flags import (
    add_format,
    non_negative_float,
    positive_float,
    positive_int,
    probability,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="the replay config (YAML); not needed with --resume")
    parser.add_argument("--dataset", metavar="NAME|FILE.jsonl", help="a dataset in the collector, or a file")
    parser.add_argument("--tag", help="only rows with this tag")
    parser.add_argument("--providers", metavar="ID,ID", help="only these configured providers")
    parser.add_argument("--max-samples", type=positive_int, metavar="N", help="at most N rows")
    parser.add_argument("--concurrency", type=positive_int, metavar="N", help="requests in flight at once")
    parser.add_argument("--cost-limit", type=positive_float, metavar="USD", help="stop before spending more")
    parser.add_argument("--output", metavar="DIR", help="where runs are written (default ./bakeoff-runs)")
    add_format(parser)
    parser.add_argument("--no-cache", action="store_true", help="always call the providers")
    parser.add_argument(
        "--repeat", type=positive_int, default=1, metavar="K", help="answers per row and provider"
    )
    parser.add_argument("--sweep", metavar="PARAM=V1,V2", help="one variant per value of a numeric parameter")
    parser.add_argument("--ablate", metavar="PARTS", help="variants without: system, examples, tools")
    parser.add_argument(
        "--until-decided", action="store_true", help="replay in rounds until every comparison is decided"
    )
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    parser.add_argument("--seed", type=int, default=0, help="seed of retries' jitter and the bootstrap")
    parser.add_argument(
        "--margin",
        type=non_negative_float,
        default=None,
        help="non-inferiority margin (default replay.margin, else 0.02)",
    )
    parser.add_argument("--alpha", type=probability, default=0.05, help="significance level")


def run(args: argparse.Namespace) -> int:
    from bakeoff.replay.config import load_config
    from bakeoff.replay.report.progress import Progress
    from bakeoff.replay.report.publish import publish
    from bakeoff.replay.report.render import render
    from bakeoff.replay.run.engine import RunOutcome
    from bakeoff.replay.run.runner import ReplayOptions, prepare, reopen, replay
    from bakeoff.replay.stats.recommend import Constraints, recommend

    if args.resume:
        run_ = reopen(args.resume)
    else:
        if not args.config:
            raise UsageError("--config is required (or --resume RUN_DIR)")
        # Every option of the run has the flag of the same name.
        chosen = {f.name: getattr(args, f.name) for f in fields(ReplayOptions) if hasattr(args, f.name)}
        if args.providers:
            chosen["providers"] = [p.strip() for p in args.providers.split(",")]
        options = ReplayOptions(**chosen)
        run_ = prepare(load_config(args.config), options)
    outcome: RunOutcome
    outcome, benchmark, comparison = replay(run_, Progress())
    try:
        where = publish(run_.config, run_.meta, benchmark, comparison, run_.directory.read_rows())
        if where:
            print(f"results stored in {where}", file=sys.stderr)
    except Exception as exc:  # the run's files are the record; storing a copy may fail without harm
        print(f"bakeoff: warning: could not store the results in the collector: {exc}", file=sys.stderr)
    print(render(benchmark, comparison, args.format, recommend(benchmark, comparison, Constraints())))
    print(f"run written to {run_.directory.path}", file=sys.stderr)
    failed = outcome.provider_failed_entirely()
    if failed:
        print(f"bakeoff: every request to {', '.join(failed)} failed", file=sys.stderr)
        return 1
    return 0
