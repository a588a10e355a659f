"""One check of a replay monitor: draw a fresh sample, replay it against the candidates, read the pairs.

The sample is drawn by the collector (`POST /v1/samples`, or the same on a DuckDB file) into one dataset
per monitor, replaced at each check. It is replayed as `bakeoff replay` would, with production's recorded
answers as the baseline, into `replay.output/monitors/<name>/`. What a check yields per candidate is
what the evidence needs: the paired scores on the monitor's metric, each side's costs, and the share of
the candidate's calls that failed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from bakeoff.errors import ConfigError
from bakeoff.monitor_config import ReplayMonitor
from bakeoff.replay.config import ReplayConfig
from bakeoff.replay.recorded import RecordedData
from bakeoff.replay.report.progress import Progress
from bakeoff.replay.run.engine import PRODUCTION
from bakeoff.replay.run.runner import ReplayOptions, prepare, replay
from bakeoff.replay.stats.analysis import columns
from bakeoff.replay.stats.columns import DEFAULT_MARGIN


@dataclass
class Pairs:
    """One candidate's share of a check."""

    candidate: np.ndarray  # scores on the events both answered
    production: np.ndarray
    costs: np.ndarray  # the candidate's answers' costs (NaN unpriced)
    baseline_costs: np.ndarray
    error_rate: float | None  # None: no call was attempted


@dataclass
class CheckResult:
    """A check's sample window and every candidate's pairs."""

    window_start: str
    size: int
    pairs: dict[str, Pairs]


def metric_of(monitor: ReplayMonitor, config: ReplayConfig) -> str:
    """The metric the monitor compares on: its own `metric`, else the first of `replay.metrics`."""
    kinds = list(config.metric_plan.kinds())
    if monitor.metric is None:
        if not kinds:
            raise ConfigError(f"{config.source}: replay monitor {monitor.name!r} needs `replay.metrics`")
        return kinds[0]
    if monitor.metric not in kinds:
        raise ConfigError(
            f"{config.source}: replay monitor {monitor.name!r}: metric {monitor.metric!r} is not one of "
            f"replay.metrics ({', '.join(kinds) or 'none'})"
        )
    return monitor.metric


def margin_of(monitor: ReplayMonitor, config: ReplayConfig) -> float:
    """The monitor's margin, else `replay.margin`, else the default."""
    if monitor.margin is not None:
        return monitor.margin
    return config.replay.margin if config.replay.margin is not None else DEFAULT_MARGIN


def validate(monitor: ReplayMonitor, config: ReplayConfig) -> None:
    """A ConfigError naming the first thing the monitor asks of `replay:` that is not there."""
    known = {p.id for p in config.replay.providers}
    for provider in monitor.providers:
        if provider not in known:
            raise ConfigError(
                f"{config.source}: replay monitor {monitor.name!r}: provider {provider!r} is not in "
                f"replay.providers (known: {', '.join(sorted(known))})"
            )
    metric_of(monitor, config)


def dataset_name(monitor: ReplayMonitor) -> str:
    return f"monitor-{monitor.name}"


def run_check(
    monitor: ReplayMonitor, config: ReplayConfig, source: RecordedData, now: datetime, seed: int
) -> CheckResult | None:
    """Sample, replay, pair; None when the sample is empty (no traffic to check)."""
    sample = monitor.sample
    filters = dict(sample.filters)
    start = now - timedelta(hours=sample.since_hours) if sample.since_hours else None
    if start is not None:
        filters["since"] = start.isoformat()
    name = dataset_name(monitor)
    body = {"name": name, "strategy": sample.strategy, "n": sample.n, "seed": seed, "filters": filters}
    summary = source.create_sample({**body, "replace": True})
    if not summary.get("size"):
        return None
    section = config.replay.model_copy(update={"baseline": PRODUCTION})
    pinned = config.model_copy(update={"replay": section})
    pinned._source, pinned._plan = config.source, config.metric_plan
    output = Path(config.replay.output) / "monitors" / monitor.name
    options = ReplayOptions(dataset=name, providers=list(monitor.providers), seed=seed, output=str(output))
    run = prepare(pinned, options)
    replay(run, Progress(io.StringIO(), live=False))
    cols = columns(run.directory.read_rows(), run.plan.kinds())
    metric = metric_of(monitor, config)
    base = cols.per_event(cols.scores[metric], PRODUCTION)
    base_costs = cols.cost[cols.rows_of(PRODUCTION)]
    pairs = {}
    for provider in monitor.providers:
        own = cols.per_event(cols.scores[metric], provider)
        both = ~(np.isnan(own) | np.isnan(base))
        rows = cols.rows_of(provider)
        ok = rows[~cols.error[rows]]
        errors = float(cols.error[rows].mean()) if len(rows) else None
        pairs[provider] = Pairs(own[both], base[both], cols.cost[ok], base_costs, errors)
    window_start = (start or now).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return CheckResult(window_start, int(summary["size"]), pairs)
