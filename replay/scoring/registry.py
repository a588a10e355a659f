"""From the config's `metrics:` and `suites:` to the metrics that score each case.

A metric is named by a built-in name (`fuzzy`), a one-key mapping with options (`{fuzzy: {threshold:
0.9}}`), a `module:function` path, or an entry point of the group `bakeoff.metrics`. A user function
takes `(completion, case)` and returns a bool (a pass metric), a float in [0, 1] (a score metric) or a
:class:`~bakeoff.replay.types.MetricResult`. Mistakes fail when the config is loaded, with a suggestion.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from bakeoff.errors import ConfigError
from bakeoff.replay.errors import BudgetExhausted
from bakeoff.replay.scoring.base import Metric, ScoringContext
from bakeoff.replay.scoring.builtin import BUILTIN, ExactMatch, Fuzzy, NumericMatch, ToolCallMatch
from bakeoff.replay.types import Case, Completion, MetricResult

ENTRY_POINT_GROUP = "bakeoff.metrics"
MetricSpec = str | Mapping[str, Any]


class FunctionMetric(Metric):
    """A user's function as a metric; its kind is learnt from what it returns the first time."""

    needs_reference = False

    def __init__(self, name: str, function: Callable[..., Any], kind: str = "score", threshold: float = 0.5):
        self._name = name
        self.function = function
        self.kind = kind  # type: ignore[misc]
        self.threshold = threshold

    @property
    def label(self) -> str:
        return self._name

    def score(self, completion: Completion, case: Case) -> MetricResult:
        value = self.function(completion, case)
        if isinstance(value, MetricResult):
            return value
        if isinstance(value, bool):
            self.kind = "pass"  # type: ignore[misc]
            return MetricResult(1.0 if value else 0.0, value)
        if value is None:
            return MetricResult(None, None, "not applicable")
        return self.verdict(float(value))


def _suggest(name: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _function_metric(path: str, options: Mapping[str, Any]) -> Metric:
    module_name, _, attribute = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"metrics: cannot load {path!r}: {exc}") from None
    if isinstance(function, type) and issubclass(function, Metric):
        return function(**options)
    if not callable(function):
        raise ConfigError(f"metrics: {path!r} is not callable")
    # The kind decides the statistics before the first answer is scored: an explicit `kind`, else the
    # function's return annotation (`-> bool` is a pass metric), else a score.
    returns = inspect.signature(function).return_annotation
    guessed = "pass" if returns in (bool, "bool") else "score"
    kind = str(options.get("kind", guessed))
    if kind not in ("pass", "score"):
        raise ConfigError(f"metrics: {path}: kind must be 'pass' or 'score', not {kind!r}")
    return FunctionMetric(attribute, function, kind, float(options.get("threshold", 0.5)))


def _entry_point(name: str) -> Any | None:
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name == name:
            return point.load()
    return None


def build_metric(spec: MetricSpec, provider_ids: Collection[str] = ()) -> Metric:
    """One metric from its config entry; raises ConfigError naming the metric and the problem."""
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping) and len(spec) == 1:
        name, raw = next(iter(spec.items()))
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigError(f"metrics: {name}: options must be a mapping")
        options = dict(raw or {})
    else:
        raise ConfigError(f"metrics: expected a name or a one-key mapping, got {spec!r}")
    if ":" in name:
        return _function_metric(name, options)
    if name == "llm_judge":
        from bakeoff.replay.scoring.judge import LLMJudge

        return _construct(LLMJudge, name, {**options, "provider_ids": list(provider_ids)})
    embedder = options.get("provider") if name == "semantic_similarity" else None
    if embedder and provider_ids and embedder not in provider_ids:
        raise ConfigError(
            f"metrics: semantic_similarity: provider {embedder!r} is not configured "
            f"(known: {', '.join(provider_ids)})"
        )
    if name in BUILTIN:
        return _construct(BUILTIN[name], name, options)
    found = _entry_point(name)
    if found is not None:
        if isinstance(found, type) and issubclass(found, Metric):
            return _construct(found, name, options)
        return FunctionMetric(name, found)
    raise ConfigError(f"metrics: unknown metric {name!r}{_suggest(name, [*BUILTIN, 'llm_judge'])}")


def _construct(cls: type[Metric], name: str, options: Mapping[str, Any]) -> Metric:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = [k for k in options if k not in accepted]
    if unknown:
        public = sorted(accepted - {"provider_ids"})
        raise ConfigError(
            f"metrics: {name}: unknown option {unknown[0]!r}{_suggest(unknown[0], public)}"
            + ("" if public else f" ({name} takes no options)")
        )
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"metrics: {name}: {exc}") from None


def build_metrics(specs: Sequence[MetricSpec], provider_ids: Collection[str] = ()) -> list[Metric]:
    """The metrics of a list; two with the same name are a ConfigError."""
    metrics = [build_metric(spec, provider_ids) for spec in specs]
    labels = [m.label for m in metrics]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"metrics: {', '.join(repeated)} listed twice")
    return metrics


def default_metrics() -> list[Metric]:
    """Without a configured list: agreement with the reference four ways (each says if inapplicable)."""
    return [ExactMatch(), Fuzzy(), NumericMatch(), ToolCallMatch()]


class MetricPlan:
    """Which metrics score which case: the global list, plus the suites of the tags the case carries."""

    def __init__(
        self, metrics: Sequence[Metric], suites: Mapping[str, Sequence[Metric]] | None = None
    ) -> None:
        self.metrics = list(metrics)
        self.suites = {tag: list(ms) for tag, ms in (suites or {}).items()}
        self._by_tags: dict[tuple[str, ...], list[Metric]] = {}

    @classmethod
    def from_config(
        cls,
        metrics: Sequence[MetricSpec],
        suites: Mapping[str, Sequence[MetricSpec]] | None = None,
        provider_ids: Collection[str] = (),
    ) -> MetricPlan:
        built = build_metrics(metrics, provider_ids) if metrics else ([] if suites else default_metrics())
        by_suite = {tag: build_metrics(specs, provider_ids) for tag, specs in (suites or {}).items()}
        return cls(built, by_suite)

    def for_case(self, case: Case) -> list[Metric]:
        """The global metrics and those of every suite whose tag the case has, each once, in order."""
        chosen = self._by_tags.get(case.tags)
        if chosen is None:
            chosen, seen = [], set()
            for metric in self.metrics + [m for tag in case.tags for m in self.suites.get(tag, [])]:
                if metric.label not in seen:
                    seen.add(metric.label)
                    chosen.append(metric)
            self._by_tags[case.tags] = chosen
        return chosen

    @property
    def all(self) -> list[Metric]:
        """Every distinct metric of the plan."""
        seen: dict[str, Metric] = {}
        for metric in self.metrics + [m for ms in self.suites.values() for m in ms]:
            seen.setdefault(metric.label, metric)
        return list(seen.values())

    def kinds(self) -> dict[str, str]:
        """Metric name -> "pass" | "score", for the analysis."""
        return {m.label: m.kind for m in self.all}


async def score_case(
    metrics: Sequence[Metric], completion: Completion, case: Case, ctx: ScoringContext | None
) -> dict[str, MetricResult]:
    """Every metric's verdict; one that raises gives `score None` with the reason, never a crashed run."""
    results: dict[str, MetricResult] = {}
    pending = []
    for metric in metrics:
        if metric.is_async:
            pending.append(metric)
            continue
        try:
            results[metric.label] = metric.score(completion, case)
        except Exception as exc:  # a user's metric may fail on any input
            results[metric.label] = MetricResult(None, None, f"metric failed: {type(exc).__name__}: {exc}")
    if pending:
        outcomes = await asyncio.gather(
            *(m.ascore(completion, case, ctx) for m in pending), return_exceptions=True
        )
        for metric, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError | BudgetExhausted):
                    raise outcome
                outcome = MetricResult(None, None, f"metric failed: {type(outcome).__name__}: {outcome}")
            results[metric.label] = outcome
    return {m.label: results[m.label] for m in metrics}
