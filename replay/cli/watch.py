"""`bakeoff watch --config FILE [--once]`: replay fresh traffic on a schedule and alert on changes.

A config with `monitors:` runs its traffic and replay monitors instead (see
:mod:`bakeoff.replay.watch_monitors`): `--once` for cron/CI, `--backtest [--since ISO] [--until ISO]` to list
the alerts the traffic monitors would have raised.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bakeoff.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, metavar="FILE", help="the replay config, with a `watch:` section"
    )
    parser.add_argument(
        "--once", action="store_true", help="one check; exit 1 if it raised an alert (for cron/CI)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first check's sample")
    parser.add_argument(
        "--backtest", action="store_true", help="run the traffic monitors over the recorded history"
    )
    parser.add_argument("--since", metavar="ISO", help="with --backtest: from this time")
    parser.add_argument("--until", metavar="ISO", help="with --backtest: up to this time")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="how alerts are printed")


def _time(flag: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag}: not an ISO time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    from bakeoff.monitor_config import load_monitoring
    from bakeoff.replay.config import load_config
    from bakeoff.replay.watch import watch
    from bakeoff.replay.watch_monitors import replay_config_for, run_backtest, run_watch

    monitoring = load_monitoring(args.config)
    if monitoring.monitors:
        if args.backtest:
            return run_backtest(
                monitoring, _time("--since", args.since), _time("--until", args.until), args.format
            )
        if args.since or args.until:
            raise UsageError("--since and --until go with --backtest")
        replay_config = replay_config_for(args.config, monitoring)
        return run_watch(monitoring, replay_config, once=args.once, style=args.format)
    if args.backtest:
        raise UsageError(f"--backtest: {args.config} has no `monitors:` section")

    return watch(load_config(args.config), once=args.once, seed=args.seed)
