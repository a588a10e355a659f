"""Scores for `metric:NAME` traffic monitors: a share of production's answers scored as they arrive.

Scoring lives in replay, so `bakeoff watch` does it: before each tick it scores the answers of the
monitor's share (picked by a hash of each event id, `metric_share` of them) that arrived since its last
round, up to the event-time watermark, and stores the scores beside the events. The tick that follows
reads them by window through the same change detector as every other traffic signal. Where it stopped is
kept in the store too (state `<monitor>#scored`), so a restarted watcher goes on from there.

Rule metrics (json_valid, regex, contains, ...) score every answer of the share. A judge (`llm_judge` in
rubric mode) scores them within the monitor's `judge_budget`, see :mod:`.judged`; a judge without a
budget, and any other metric that calls a model, is refused in one line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bakeoff.errors import ConfigError
from bakeoff.monitor_config import TrafficMonitor
from bakeoff.replay.config import ReplayConfig
from bakeoff.replay.monitoring.judged import BudgetedJudge, budgeted, score_judged
from bakeoff.replay.recorded import RecordedData
from bakeoff.replay.run.sources import cases_from_rows
from bakeoff.replay.scoring.base import Metric
from bakeoff.replay.scoring.judge import LLMJudge
from bakeoff.replay.scoring.registry import build_metric

PAGE = 1000
MAX_PER_ROUND = 50_000  # answers scored per monitor per round at most; the next round goes on


def metric_for(monitor: TrafficMonitor, config: ReplayConfig | None) -> Metric:
    """The metric NAME of `metric:NAME`: one of `replay.metrics` by label, else a built-in by name.

    A judge must come with the monitor's `judge_budget` (and a USD budget with the judge's price).
    """
    name = monitor.metric
    assert name is not None
    listed = {m.label: m for m in config.metric_plan.all} if config is not None else {}
    where = f"monitors: {monitor.name}: metric:{name}"
    metric = listed.get(name) or build_metric(name, (), where)
    if isinstance(metric, LLMJudge):
        assert config is not None  # a judge is one of `replay.metrics`, naming one of its providers
        return budgeted(monitor, metric, config, where)
    if metric.is_async:
        raise ConfigError(
            f"{where}: calls a model that is not a judge; metric signals take rule metrics such as "
            "json_valid or regex, or an llm_judge with a judge_budget"
        )
    if monitor.judge_budget is not None:
        raise ConfigError(f"{where}: calls no judge; judge_budget applies to judge metrics only")
    return metric


def resume_at(stored: dict[str, Any] | None) -> tuple[float, str] | None:
    """Where the scoring state says the next round starts (None: from the start of the backfill)."""
    if stored is None or not stored.get("after"):
        return None
    return float(stored["after"][0]), str(stored["after"][1])


def _score(metric: Metric, events: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    ts_of = {str(e["id"]): datetime.fromisoformat(str(e["ts"]).replace("Z", "+00:00")) for e in events}
    rows = []
    for case in cases_from_rows(events).cases:
        assert case.recorded is not None  # events, not test cases: each has its recorded answer
        result = metric.score(case.recorded, case)
        score = result.score if result.score is not None else result.passed
        if score is not None:  # not applicable to this answer: left out, never 0
            rows.append((case.id, ts_of[case.id].timestamp(), float(score)))
    return rows


def score_new_answers(monitor: TrafficMonitor, metric: Metric, source: RecordedData) -> int:
    """Score the monitor's share of the answers since its last round; how many answers were read."""
    key, fingerprint = monitor.scoring_state_name, monitor.fingerprint()
    stored = source.monitor_states([key]).get(key)
    if stored is not None and stored["fingerprint"] != fingerprint:
        stored = None  # the monitor measures something else now: its scoring starts anew
    if isinstance(metric, BudgetedJudge):
        return score_judged(monitor, metric, source, resume_at(stored), (stored or {}).get("judge"))
    after = resume_at(stored)
    read = 0
    while read < MAX_PER_ROUND:
        events, page_end = source.events_to_score(monitor, after, PAGE)
        if page_end is None:
            break
        assert monitor.metric is not None
        source.save_metric_scores(monitor.metric, _score(metric, events))
        after = page_end
        source.save_monitor_states([{"name": key, "fingerprint": fingerprint, "after": list(after)}], [])
        read += len(events)
    return read
