"""`bakeoff watch`: keep checking. Each check samples fresh traffic, replays it, and raises alerts.

Alerts:
- `regression`: a provider is significantly worse than in the previous check beyond the margin
  (production drifting, a provider's model changing under the same name);
- `opportunity`: an alternative is significantly better than the baseline and no dearer, or
  non-inferior within the margin and cheaper — the moment to consider switching;
- `failing`: every request to a provider failed.
Alerts go to stderr, to `watch.alert_file` (JSON lines) and to `watch.alert_webhook` (one POST each).
"""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bakeoff.errors import UsageError
from bakeoff.replay.config import ReplayConfig
from bakeoff.replay.recorded import recorded_data
from bakeoff.replay.report.progress import Progress
from bakeoff.replay.report.publish import publish
from bakeoff.replay.run.loading import load_run
from bakeoff.replay.run.runner import ReplayOptions, prepare, replay
from bakeoff.replay.stats.analysis import AnalysisOptions
from bakeoff.replay.stats.cross_run import compare_runs, regressions

STATE_FILE = "watch-state.json"


def _sample(config: ReplayConfig, name: str, seed: int) -> dict[str, Any]:
    sample = config.watch.sample
    filters = dict(sample.filters)
    if sample.since_hours:
        filters["since"] = (datetime.now(UTC) - timedelta(hours=sample.since_hours)).isoformat()
    body = {
        "name": name,
        "strategy": sample.strategy,
        "n": sample.n,
        "by": sample.by,
        "seed": seed,
        "filters": filters,
    }
    target = recorded_data(config)
    if target is None:
        raise UsageError("watch: the config needs `collector:` or `db:` to sample traffic from")
    return target.create_sample({**body, "replace": True})


def alerts_of(run_dir: Path, previous: Path | None, margin: float, alpha: float) -> list[dict[str, Any]]:
    """The alerts one check raises, given the previous check's run (if any)."""
    run = load_run(run_dir)
    options = AnalysisOptions(alpha=alpha, margin=margin)
    benchmark, comparison = run.analyse(options)
    found: list[dict[str, Any]] = []
    for provider, errors in benchmark["errors"].items():
        requests = benchmark["cost_analysis"][provider]["requests"]
        if requests and errors == requests:
            found.append(
                {"kind": "failing", "provider": provider, "message": f"all {requests} requests failed"}
            )
    costs = {p: benchmark["cost_analysis"][p]["cost_per_request"] for p in benchmark["providers"]}
    baseline_cost = costs.get(comparison["baseline"])
    for c in comparison["comparisons"]:
        cheaper = (
            costs.get(c["provider"]) is not None
            and baseline_cost is not None
            and costs[c["provider"]] < baseline_cost
        )
        no_dearer = cheaper or costs.get(c["provider"]) == baseline_cost
        if (c["verdict"] == "better" and no_dearer) or (c["verdict"] == "non-inferior" and cheaper):
            found.append({"kind": "opportunity", **_brief(c)})
    if previous is not None:
        old = load_run(previous)
        old_benchmark, _ = old.analyse(AnalysisOptions(alpha=alpha, margin=margin))
        cross = compare_runs(benchmark, run.rows, old_benchmark, old.rows, run.kinds, options)
        found += [{"kind": "regression", **_brief(c)} for c in regressions(cross["comparisons"], margin)]
    for alert in found:
        alert.update(run_id=run.path.name, time=datetime.now(UTC).isoformat(timespec="seconds"))
    return found


def _brief(comparison: dict[str, Any]) -> dict[str, Any]:
    keys = ("provider", "baseline", "metric", "diff", "ci95", "p_adjusted", "verdict")
    brief = {k: comparison.get(k) for k in keys}
    low, high = comparison["ci95"]
    brief["message"] = (
        f"{comparison['provider']} {comparison['diff']:+.3f} on {comparison['metric']} "
        f"vs {comparison['baseline']} (95% CI {low:+.3f}..{high:+.3f})"
    )
    return brief


def deliver(alerts: list[dict[str, Any]], config: ReplayConfig) -> None:
    """Print the alerts and send them where the config says; a failing webhook is reported, not fatal."""
    for alert in alerts:
        print(
            f"bakeoff watch: ALERT {alert['kind']}: {alert.get('provider')}: {alert['message']}",
            file=sys.stderr,
        )
    if config.watch.alert_file and alerts:
        with open(config.watch.alert_file, "ab") as file:
            file.write(b"".join(orjson.dumps(a) + b"\n" for a in alerts))
    if config.watch.alert_webhook:
        for alert in alerts:
            request = urllib.request.Request(
                config.watch.alert_webhook,
                data=orjson.dumps(alert),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
            except OSError as exc:
                print(f"bakeoff watch: could not deliver an alert to the webhook: {exc}", file=sys.stderr)


def check(config: ReplayConfig, state_dir: Path, seed: int) -> list[dict[str, Any]]:
    """One check: sample, replay, compare with the previous check, deliver alerts; returns them."""
    state_file = state_dir / STATE_FILE
    state = orjson.loads(state_file.read_bytes()) if state_file.is_file() else {}
    name = "watch-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    sample = _sample(config, name, seed)
    print(f"bakeoff watch: sampled {sample.get('size')} events into {name}", file=sys.stderr)
    run = prepare(
        config, ReplayOptions(dataset=name, seed=seed, margin=config.watch.margin, alpha=config.watch.alpha)
    )
    _, benchmark, comparison = replay(run, Progress())
    try:
        publish(config, run.meta, benchmark, comparison, run.directory.read_rows())
    except Exception as exc:  # the run's files are the record
        print(f"bakeoff watch: could not store the run in the collector: {exc}", file=sys.stderr)
    previous = Path(state["last_run"]) if state.get("last_run") and Path(state["last_run"]).is_dir() else None
    found = alerts_of(run.directory.path, previous, config.watch.margin, config.watch.alpha)
    deliver(found, config)
    state_file.write_bytes(
        orjson.dumps({"last_run": str(run.directory.path), "checks": state.get("checks", 0) + 1})
    )
    return found


def watch(
    config: ReplayConfig, once: bool, seed: int = 0, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Check now and then every `watch.interval` seconds; with `once`, exit 1 when the check raised alerts."""
    state_dir = Path(config.replay.output)
    state_dir.mkdir(parents=True, exist_ok=True)
    while True:
        found = check(config, state_dir, seed)
        if once:
            return 1 if found else 0
        sleep(config.watch.interval)
        seed += 1
