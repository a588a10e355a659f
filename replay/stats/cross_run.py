"""The same providers across two runs (`bakeoff compare NEW --compare-with OLD`): did anything regress?

When the runs share events, each provider's metric is compared *paired* on the shared events (the
tests of :mod:`~bakeoff.replay.stats.verdicts`). Otherwise, or when only the old
`benchmark_results.json` is at hand, unpaired: a two-proportion z-test for pass rates, a z-test from
the intervals for scores. Holm's correction runs over every provider x metric test, and each interval
is drawn at the level Holm decided it at, as in a single run.

Runs over different datasets measure different things: an unpaired difference between them is
reported, labelled, and never called significant unless the caller allows it (`--unpaired`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from bakeoff.errors import UsageError
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.stats import inference as st
from bakeoff.replay.stats.columns import AnalysisOptions, columns
from bakeoff.replay.stats.verdicts import ERROR_METRIC, PerEvent, decide, evidence

Z95 = 1.959963984540054
OLD = "\x00old:"  # the old run's providers, renamed so both runs fit one table


def load_old(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """(benchmark_results, rows or None) of an old run directory or a benchmark_results.json file."""
    location = Path(path)
    if location.is_dir():
        file = location / "benchmark_results.json"
        if not file.is_file():
            raise UsageError(f"--compare-with {path}: no benchmark_results.json in it")
        return orjson.loads(file.read_bytes()), RunDirectory(location).read_rows()
    if location.is_file():
        try:
            return orjson.loads(location.read_bytes()), None
        except orjson.JSONDecodeError as exc:
            raise UsageError(f"--compare-with {path}: not JSON: {exc}") from None
    raise UsageError(f"--compare-with {path}: no such run directory or file")


def _unpaired(old: Mapping[str, Any], new: Mapping[str, Any], kind: str) -> st.Evidence | None:
    """A z-test of new minus old from the two summaries (the standard error kept as sd / sqrt(n))."""
    from scipy.stats import norm

    n = min(old["total"], new["total"])
    if kind == "pass":
        x1, n1, x2, n2 = old["passed"], old["total"], new["passed"], new["total"]
        p1, p2 = x1 / n1, x2 / n2
        pooled = (x1 + x2) / (n1 + n2)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        diff, z, test = p2 - p1, ((p2 - p1) / se0 if se0 > 0 else 0.0), "two-proportion z"
    else:
        if old.get("ci95", [None])[0] is None or new.get("ci95", [None])[0] is None:
            return None
        se_old = (old["ci95"][1] - old["ci95"][0]) / (2 * Z95)
        se_new = (new["ci95"][1] - new["ci95"][0]) / (2 * Z95)
        se = math.sqrt(se_old**2 + se_new**2)
        diff = new["score"] - old["score"]
        z, test = (diff / se if se > 0 else 0.0), "welch z (from intervals)"
    p_value = float(2 * norm.sf(abs(z))) if z else 1.0
    return st.Evidence(diff, p_value, test, n, se * math.sqrt(n))


def same_dataset(
    new_benchmark: Mapping[str, Any],
    new_rows: list[dict[str, Any]],
    old_benchmark: Mapping[str, Any],
    old_rows: list[dict[str, Any]] | None,
) -> bool:
    """Whether both runs replayed the same events (by their ids; by the dataset's name without rows)."""
    if old_rows is not None:
        return {r["event_id"] for r in old_rows} == {r["event_id"] for r in new_rows}
    return old_benchmark.get("dataset") == new_benchmark.get("dataset")


def compare_runs(
    new_benchmark: Mapping[str, Any],
    new_rows: list[dict[str, Any]],
    old_benchmark: Mapping[str, Any],
    old_rows: list[dict[str, Any]] | None,
    kinds: Mapping[str, str],
    options: AnalysisOptions,
    unpaired: bool = True,
) -> dict[str, Any]:
    """Every provider and metric both runs have: new minus old, Holm-corrected.

    `unpaired=False` refuses to call a difference significant when the runs are over different datasets
    (what `compare` does unless `--unpaired`); `watch` compares fresh samples of the same traffic, where
    an unpaired test is the right one.
    """
    providers = [p for p in new_benchmark["providers"] if p in old_benchmark.get("providers", [])]
    metrics = [m for m in kinds if m in old_benchmark.get("metrics", {})]
    same = same_dataset(new_benchmark, new_rows, old_benchmark, old_rows)
    shared = old_rows is not None and bool(
        {r["event_id"] for r in old_rows} & {r["event_id"] for r in new_rows}
    )
    entries: list[tuple[dict[str, Any], st.Evidence | None]] = []
    if shared and old_rows is not None:
        merged = new_rows + [{**r, "provider": OLD + r["provider"]} for r in old_rows]
        per_event = PerEvent(columns(merged, metrics))
        for provider in providers:
            for metric in [*metrics, ERROR_METRIC]:
                found = evidence(per_event, metric, OLD + provider, provider)
                row = {"provider": provider, "metric": metric, "n": found.n if found else 0, "paired": True}
                entries.append((row, found))
    else:
        for provider in providers:
            for metric in metrics:
                old = old_benchmark["metrics"][metric].get(provider)
                new = new_benchmark["metrics"][metric].get(provider)
                if (
                    not old
                    or not new
                    or not old.get("total")
                    or not new.get("total")
                    or old.get("score") is None
                ):
                    continue
                found = _unpaired(old, new, kinds[metric])
                row = {"provider": provider, "metric": metric, "n": found.n if found else 0, "paired": False}
                entries.append((row, found))
    decide(entries, options.alpha, options.decision_margin)
    for row, _ in entries:
        row["baseline"] = f"{row['provider']} (old run)"
        if not same:
            row["label"] = "different datasets" + (", unpaired" if not row["paired"] else ", shared events")
            if not unpaired and not row["paired"]:
                row["significant"] = False
                row["verdict"] = "not comparable"
    return {
        "old_run": old_benchmark.get("run_id"),
        "new_run": new_benchmark.get("run_id"),
        "alpha": options.alpha,
        "margin": options.decision_margin,
        "same_dataset": same,
        "unpaired_allowed": unpaired,
        "comparisons": [row for row, _ in entries],
    }


def regressions(comparisons: list[dict[str, Any]], margin: float) -> list[dict[str, Any]]:
    """Comparisons significantly worse (after Holm) beyond `margin`: the whole interval is past -margin
    (for the error rate, a rise: the whole interval above +margin)."""
    found = []
    for c in comparisons:
        if not c.get("significant") or c.get("diff") is None or c["ci95"][0] is None:
            continue
        if c["metric"] == ERROR_METRIC:
            if c["ci95"][0] > margin:
                found.append(c)
        elif c["ci95"][1] < -margin:
            found.append(c)
    return found
