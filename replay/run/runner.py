"""A replay run from start to files: prepare (or reopen) the run directory, replay, summarise.

`run.json` (:class:`~bakeoff.replay.run.state.RunState`) holds everything a resumed run needs — the
config, the options, the baseline, the metric kinds — and `dataset.jsonl` the rows being replayed, so
`--resume DIR` continues exactly the same run even if the dataset in the collector changed since. The
summaries are rewritten at the end of every run or round, so the files in the directory are always a
valid (partial) result.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bakeoff.dataset_format import parse_json_lines
from bakeoff.errors import ConfigError, UsageError
from bakeoff.replay.config import ReplayConfig, parse_config
from bakeoff.replay.recorded import load_dataset_rows
from bakeoff.replay.report.progress import Progress
from bakeoff.replay.run.budget import Budget
from bakeoff.replay.run.cache import ResponseCache
from bakeoff.replay.run.dispatch import Dispatcher
from bakeoff.replay.run.engine import PRODUCTION, ReplayEngine, RunOutcome
from bakeoff.replay.run.results import RunDirectory
from bakeoff.replay.run.sources import cases_from_rows
from bakeoff.replay.run.state import (
    RUN_FILE,
    Decision,
    ProviderSkip,
    ReplayOptions,
    RowSkip,
    RunState,
    Sequential,
    read_state,
)
from bakeoff.replay.run.variants import Variant, expand, parse_ablations, parse_sweep
from bakeoff.replay.scoring.registry import MetricPlan
from bakeoff.replay.stats import inference
from bakeoff.replay.stats.analysis import AnalysisOptions, analyse, columns
from bakeoff.replay.types import Case

DATASET_FILE = "dataset.jsonl"
BENCHMARK_FILE = "benchmark_results.json"
COMPARISON_FILE = "provider_comparison.json"


@dataclass
class Run:
    """A run directory and what it replays."""

    directory: RunDirectory
    meta: RunState
    config: ReplayConfig
    options: ReplayOptions
    cases: list[Case]
    variants: list[Variant]
    plan: MetricPlan
    skipped_rows: list[RowSkip] = field(default_factory=list)

    @property
    def baseline(self) -> str:
        return self.meta.baseline


def _run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _variants(config: ReplayConfig, options: ReplayOptions) -> list[Variant]:
    chosen = config.replay.providers
    if options.providers:
        known = {p.id for p in chosen}
        unknown = [p for p in options.providers if p not in known]
        if unknown:
            raise UsageError(
                f"--providers: unknown provider {unknown[0]!r} (known: {', '.join(sorted(known))})"
            )
        chosen = [p for p in chosen if p.id in options.providers]
    sweep = parse_sweep(options.sweep) if options.sweep else None
    ablations = parse_ablations(options.ablate) if options.ablate else []
    return expand(chosen, sweep, ablations, baseline=config.replay.baseline)


def choose_baseline(config: ReplayConfig, variants: list[Variant], cases: list[Case]) -> str:
    """The configured baseline; else the one replaying the recorded model; else production; else the first."""
    ids = [v.id for v in variants]
    if config.replay.baseline:
        if config.replay.baseline not in ids and config.replay.baseline != PRODUCTION:
            raise ConfigError(
                f"replay.baseline: {config.replay.baseline!r} is not a replayed provider "
                f"(known: {', '.join([*ids, PRODUCTION])})"
            )
        return config.replay.baseline
    recorded = Counter(c.model for c in cases if c.recorded is not None)
    if recorded:
        model = recorded.most_common(1)[0][0]
        for variant in variants:
            if variant.config.model == model and variant.ablate is None:
                return variant.id
        return PRODUCTION
    return ids[0]


def prepare(config: ReplayConfig, options: ReplayOptions, api_key: str | None = None) -> Run:
    """A new run: the dataset read and copied into the run directory, run.json written.

    Everything the config and options can get wrong is checked before the dataset is read: the
    metrics, the provider selection, the API keys the chosen providers read from the environment.
    """
    if not options.dataset:
        raise UsageError("--dataset: give a dataset name or a JSON-lines file")
    plan = config.metric_plan
    variants = _variants(config, options)
    check_keys(config, variants, plan)
    rows = load_dataset_rows(options.dataset, config, api_key)
    loaded = cases_from_rows(rows, options.tag, options.max_samples or config.replay.max_samples)
    if not loaded.cases:
        raise UsageError(
            f"--dataset {options.dataset}: no replayable rows"
            + (f" with tag {options.tag!r}" if options.tag else "")
        )
    baseline = choose_baseline(config, variants, loaded.cases)
    output = Path(options.output or config.replay.output)
    directory = RunDirectory(output / _run_id())
    kept = {c.id for c in loaded.cases}
    (directory.path / DATASET_FILE).write_bytes(_snapshot(rows, kept))
    # The recorded answers are a provider of their own only when the baseline is them (and no configured
    # provider is already called "production").
    recorded = baseline == PRODUCTION and all(v.id != PRODUCTION for v in variants)
    skipped_rows = [RowSkip.model_validate(s) for s in loaded.skipped]
    meta = RunState(
        run_id=directory.run_id,
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=options.dataset,
        config=config.model_dump(mode="json"),
        options=options,
        providers=([PRODUCTION] if recorded else []) + [v.id for v in variants],
        baseline=baseline,
        recorded_baseline=recorded,
        metrics=plan.kinds(),
        simulated=any(v.config.kind.simulated for v in variants),
        skipped_rows=skipped_rows,
    )
    meta.write(directory.path)
    return Run(directory, meta, config, options, loaded.cases, variants, plan, skipped_rows)


def check_keys(config: ReplayConfig, variants: list[Variant], plan: MetricPlan) -> None:
    """A ConfigError for the first provider the run will call whose `api_key_env` variable is unset."""
    called = {v.config.id for v in variants} | {
        provider_id for metric in plan.all for provider_id in metric.provider_ids().values()
    }
    for number, provider in enumerate(config.replay.providers):
        if provider.id in called and provider.api_key_env and provider.api_key() is None:
            raise ConfigError(
                f"{config.source}: replay.providers[{number}].api_key_env: {provider.api_key_env} is not set "
                f"(the API key of {provider.id!r})"
            )


def _snapshot(rows: list[dict[str, Any]], kept: set[str]) -> bytes:
    """The replayed rows as JSON lines, each with its id (test cases without one get their case number)."""
    lines = []
    for number, row in enumerate(rows, 1):
        case_id = str(row.get("id") or f"case-{number}")
        if case_id in kept:
            lines.append(orjson.dumps({**row, "id": case_id}) + b"\n")
    return b"".join(lines)


def reopen(path: str | Path) -> Run:
    """The run in `path`, to continue where it stopped."""
    directory = RunDirectory(path)
    meta = read_state(directory.path, "--resume")
    config = parse_config(meta.config, f"{path}/{RUN_FILE}")
    plan = config.metric_plan
    variants = _variants(config, meta.options)
    check_keys(config, variants, plan)
    rows = parse_json_lines((directory.path / DATASET_FILE).read_bytes(), f"{path}/{DATASET_FILE}")
    loaded = cases_from_rows(rows)
    skipped_rows = [RowSkip.model_validate(s) for s in loaded.skipped]
    return Run(directory, meta, config, meta.options, loaded.cases, variants, plan, skipped_rows)


def _cache(run: Run) -> ResponseCache | None:
    if run.options.no_cache:
        return None
    folder = run.config.replay.cache_dir
    if folder is None:
        import platformdirs

        folder = platformdirs.user_cache_dir("bakeoff")
    return ResponseCache(Path(folder) / "replay-cache.sqlite")


async def execute(run: Run, progress: Progress) -> RunOutcome:
    """Replay what is not done yet (in rounds with `--until-decided`), appending rows as they finish."""
    config, options = run.config, run.options
    previous = run.directory.read_rows()
    limit = options.cost_limit if options.cost_limit is not None else config.replay.cost_limit
    budget = Budget(limit=None if limit is None else max(0.0, limit - run.directory.spent(previous)))
    variant_ids = {v.id for v in run.variants}
    judges = [p for p in config.replay.providers if p.id not in variant_ids]
    cache = _cache(run)
    dispatcher = Dispatcher(
        [v.config for v in run.variants] + judges,
        concurrency=options.concurrency or config.replay.concurrency,
        retries=config.replay.retries,
        timeout=config.replay.timeout,
        budget=budget,
        cache=cache,
        seed=options.seed,
        ledger=run.directory.ledger,
    )
    workers = 2 * (options.concurrency or config.replay.concurrency)
    engine = ReplayEngine(dispatcher, run.plan, run.directory, workers=workers, on_row=progress.row)
    done = {(r["event_id"], r["provider"], int(r.get("repeat", 0))) for r in previous}
    production = run.meta.recorded_baseline
    try:
        rounds = _rounds(run.cases, options.round_size) if options.until_decided else [run.cases]
        progress.start(len(engine.work(run.cases, run.variants, options.repeat, production, done)))
        for number, cases in enumerate(rounds, 1):
            await engine.run(engine.work(cases, run.variants, options.repeat, production, done))
            if engine.outcome.stopped == "budget":
                progress.note(f"stopped: the cost limit of ${limit:g} would be passed by the next request")
                break
            if options.until_decided:
                decisions = sequential_decisions(run)
                run.meta.sequential = Sequential(rounds=number, decisions=decisions)
                if decisions and all(d.decision != "undecided" for d in decisions):
                    engine.outcome.stopped = "decided"
                    progress.note(f"every comparison decided after {number} round(s)")
                    break
    finally:
        progress.finish()
        await dispatcher.aclose()
        if cache is not None:
            cache.close()
        run.directory.close()
    outcome = engine.outcome
    run.meta.status = outcome.stopped  # type: ignore[assignment]  # RunOutcome.stopped is a Status
    run.meta.skipped = [ProviderSkip.model_validate(s) for s in outcome.skipped]
    run.meta.requests = dispatcher.stats.requests
    run.meta.cache_hits = dispatcher.stats.cache_hits
    run.meta.retries = dispatcher.stats.retries
    run.meta.spend = round(budget.spent, 8)
    run.meta.judge_cost = round(outcome.judge_cost, 8)
    run.meta.unpriced_models = sorted(dispatcher.stats.unpriced_models)
    return outcome


def _rounds(cases: list[Case], size: int) -> list[list[Case]]:
    return [cases[i : i + size] for i in range(0, len(cases), max(1, size))]


def sequential_decisions(run: Run) -> list[Decision]:
    """Each candidate x metric decided (or not) by its always-valid confidence sequence so far.

    The sequences run at alpha / (number of comparisons), so that stopping when all are decided keeps
    the family-wise error rate at alpha however often the results were looked at.
    """
    kinds = run.plan.kinds()
    cols = columns(run.directory.read_rows(), kinds)
    candidates = [p for p in cols.providers if p != run.baseline]
    tests = len(candidates) * len(kinds)
    decisions = []
    if run.baseline not in cols.providers:
        return []
    for provider in candidates:
        for metric in kinds:
            a = cols.per_event(cols.scores[metric], run.baseline)
            b = cols.per_event(cols.scores[metric], provider)
            both = ~(np.isnan(a) | np.isnan(b))
            diffs = (b - a)[both]
            low, high = inference.confidence_sequence(diffs, run.options.alpha / max(tests, 1))
            decision = inference.sequential_decision(
                diffs, run.options.margin or 0.0, run.options.alpha / max(tests, 1)
            )
            decisions.append(
                Decision(
                    provider=provider, metric=metric, n=int(both.sum()), decision=decision, cs95=(low, high)
                )
            )
    return decisions


def summarise(run: Run, baseline: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write benchmark_results.json, provider_comparison.json and run.json from the rows so far."""
    rows = run.directory.read_rows()
    options = AnalysisOptions(
        baseline=baseline or run.baseline,
        alpha=run.options.alpha,
        margin=run.options.margin,  # None: the config's margin, else 0.02
        seed=run.options.seed,
    )
    meta = run.meta.to_json()
    benchmark, comparison = analyse(rows, run.plan.kinds(), options, meta)
    benchmark["skipped"] = len(run.meta.skipped) + len(run.skipped_rows)
    benchmark["status"] = run.meta.status
    if run.meta.sequential is not None:
        comparison["sequential"] = meta["sequential"]
    run.directory.write(BENCHMARK_FILE, benchmark)
    run.directory.write(COMPARISON_FILE, comparison)
    run.directory.write(RUN_FILE, meta)
    return benchmark, comparison


def replay(run: Run, progress: Progress) -> tuple[RunOutcome, dict[str, Any], dict[str, Any]]:
    """Execute and summarise; on Ctrl-C the summaries of what finished are still written."""
    try:
        outcome = asyncio.run(execute(run, progress))
    except KeyboardInterrupt:
        run.meta.status = "interrupted"
        summarise(run)
        raise
    benchmark, comparison = summarise(run)
    return outcome, benchmark, comparison
