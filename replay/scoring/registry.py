"""From the config's `metrics:` and `suites:` to the metrics that score each case.

A metric is named by a built-in name (`fuzzy`), a one-key mapping with options (`{fuzzy: {threshold:
0.9}}`), a `module:function` path, or an entry point of the group `bakeoff.metrics`. A user function
takes `(completion, case)` and returns a bool (a pass metric), a float in [0, 1] (a score metric) or a
:class:`~bakeoff.replay.types.MetricResult`. Mistakes fail when the config is loaded, with a suggestion;
each message starts with where the metric was listed (`replay.metrics[2]: ...`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from bakeoff.config_file import did_you_mean
from bakeoff.errors import ConfigError
from bakeoff.replay.errors import BudgetExhausted
from bakeoff.replay.registry import Registry, RegistryError, import_target
from bakeoff.replay.scoring.base import Metric, ScoringContext
from bakeoff.replay.types import Case, Completion, MetricResult

ENTRY_POINT_GROUP = "bakeoff.metrics"
MetricSpec = str | Mapping[str, Any]
_BUILTIN = "bakeoff.replay.scoring.builtin"

METRICS: Registry[object] = Registry(
    "metric",
    ENTRY_POINT_GROUP,
    {
        "exact_match": f"{_BUILTIN}:ExactMatch",
        "contains": f"{_BUILTIN}:Contains",
        "regex": f"{_BUILTIN}:Regex",
        "numeric_match": f"{_BUILTIN}:NumericMatch",
        "fuzzy": f"{_BUILTIN}:Fuzzy",
        "json_valid": f"{_BUILTIN}:JsonValid",
        "json_schema": f"{_BUILTIN}:JsonSchema",
        "tool_call_match": f"{_BUILTIN}:ToolCallMatch",
        "semantic_similarity": f"{_BUILTIN}:SemanticSimilarity",
        "llm_judge": "bakeoff.replay.scoring.judge:LLMJudge",
    },
)
# Without a configured list: agreement with the reference four ways (each says when it is inapplicable).
DEFAULT_METRICS = ("exact_match", "fuzzy", "numeric_match", "tool_call_match")
_FUNCTION_OPTIONS = ("kind", "threshold")


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


def _options(spec: MetricSpec) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and len(spec) == 1:
        name, raw = next(iter(spec.items()))
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigError(f"{name}: options must be a mapping")
        return str(name), dict(raw or {})
    raise ConfigError(f"expected a name or a one-key mapping, got {spec!r}")


def _function_metric(label: str, function: Callable[..., Any], options: Mapping[str, Any]) -> Metric:
    unknown = [k for k in options if k not in _FUNCTION_OPTIONS]
    if unknown:
        raise ConfigError(
            f"{label}: unknown option {unknown[0]!r}{did_you_mean(unknown[0], _FUNCTION_OPTIONS)}"
            " (a function metric takes kind and threshold)"
        )
    # The kind decides the statistics before the first answer is scored: an explicit `kind`, else the
    # function's return annotation (`-> bool` is a pass metric), else a score.
    returns = inspect.signature(function).return_annotation
    kind = str(options.get("kind", "pass" if returns in (bool, "bool") else "score"))
    if kind not in ("pass", "score"):
        raise ConfigError(f"{label}: kind must be 'pass' or 'score', not {kind!r}")
    try:
        threshold = float(options.get("threshold", 0.5))
    except (TypeError, ValueError):
        raise ConfigError(f"{label}: threshold must be a number, not {options['threshold']!r}") from None
    return FunctionMetric(label, function, kind, threshold)


def _construct(cls: type[Metric], name: str, options: Mapping[str, Any]) -> Metric:
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}
    unknown = [k for k in options if k not in accepted]
    if unknown:
        raise ConfigError(
            f"{name}: unknown option {unknown[0]!r}{did_you_mean(unknown[0], accepted)}"
            + ("" if accepted else f" ({name} takes no options)")
        )
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _resolve(name: str) -> tuple[str, object]:
    """(label, the class or function) of a registered name or a `module:function` path."""
    if ":" not in name:
        return name, METRICS.get(name)
    try:
        return name.partition(":")[2], import_target(name)
    except (ImportError, AttributeError) as exc:
        raise RegistryError(f"cannot load {name!r}: {exc}") from None


def _build(name: str, options: Mapping[str, Any], provider_ids: Collection[str]) -> Metric:
    label, target = _resolve(name)
    if isinstance(target, type) and issubclass(target, Metric):
        metric = _construct(target, name, options)
    elif callable(target):
        metric = _function_metric(label, target, options)
    else:
        raise ConfigError(f"{name!r} is neither a Metric subclass nor a function")
    # A metric that calls a model (a judge, an embedder) names a provider; it must be one of the run's.
    for option, provider_id in metric.provider_ids().items():
        if provider_ids and provider_id not in provider_ids:
            raise ConfigError(
                f"{name}: {option} {provider_id!r} is not a configured provider "
                f"(known: {', '.join(provider_ids)})"
            )
    return metric


def build_metric(spec: MetricSpec, provider_ids: Collection[str] = (), where: str = "metrics") -> Metric:
    """One metric from its config entry; a ConfigError starting with `where` names the problem."""
    try:
        name, options = _options(spec)
        return _build(name, options, provider_ids)
    except RegistryError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ConfigError as exc:
        # A metric's own checks speak of "metrics: ..."; say once where it was listed instead.
        raise ConfigError(f"{where}: {str(exc).removeprefix('metrics: ')}") from None


def build_metrics(
    specs: Sequence[MetricSpec], provider_ids: Collection[str] = (), where: str = "metrics"
) -> list[Metric]:
    """The metrics of a list; two with the same name are a ConfigError."""
    metrics = [build_metric(spec, provider_ids, f"{where}[{i}]") for i, spec in enumerate(specs)]
    labels = [m.label for m in metrics]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"{where}: {', '.join(repeated)} listed twice")
    return metrics


def default_metrics() -> list[Metric]:
    """The metrics of a config that lists none."""
    return build_metrics(DEFAULT_METRICS)


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
        where: str = "replay",
    ) -> MetricPlan:
        """The plan of a config's `metrics:` and `suites:`; errors name `{where}.metrics[i]`."""
        if metrics:
            built = build_metrics(metrics, provider_ids, f"{where}.metrics")
        else:
            built = [] if suites else default_metrics()
        by_suite = {
            tag: build_metrics(specs, provider_ids, f"{where}.suites.{tag}")
            for tag, specs in (suites or {}).items()
        }
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
