"""`bakeoff watch --config FILE [--once]`: replay fresh traffic on a schedule and alert on changes."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="the replay config, with a `watch:` section"
    )
    parser.add_argument(
        "--once", action="store_true", help="one check; exit 1 if it raised an alert (for cron/CI)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first check's sample")


def run(args: argparse.Namespace) -> int:
    from bakeoff.replay.config import load_config
    from bakeoff.replay.watch import watch

    return watch(load_config(args.config), once=args.once, seed=args.seed)
