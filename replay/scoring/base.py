"""What every metric is: a name, a kind, and a verdict on one answer against its reference.

A metric of kind ``pass`` gives a binary verdict (its score is 1 or 0; compared with Wilson intervals
and McNemar's test); a metric of kind ``score`` gives a number in [0, 1] and a pass threshold
(compared with bootstrap intervals and Wilcoxon's test). ``MetricResult(None, None, reason)`` means the
metric could not judge this answer (no reference, not applicable, an unparseable judge reply): such
rows are left out of that metric's figures, never counted as passes or failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from bakeoff.replay.types import Case, Completion, MetricResult, Reference

NO_ANSWER = MetricResult(0.0, False, "no answer")
NO_REFERENCE = MetricResult(None, None, "no reference")


@dataclass
class ScoringContext:
    """What the engine lends to metrics that need a model (judges, embeddings).

    `complete(provider_id, canonical_request)` goes through the run's concurrency limits, retries, cache
    and budget and returns (completion, cost in USD); `embed(provider_id, texts)` returns vectors.
    """

    complete: Callable[[str, dict[str, Any]], Awaitable[tuple[Completion, float | None]]]
    embed: Callable[[str, list[str]], Awaitable[list[list[float]]]] | None = None


def reference_text(reference: Reference) -> str | None:
    """The reference as text: `expected` when the row has it (non-text values as JSON), else the recording."""
    if reference.from_expected:
        value = reference.expected
        if value is None:
            return None
        if isinstance(value, str):
            return value
        import orjson

        return orjson.dumps(value).decode()
    return reference.text


class Metric:
    """Base class. Subclasses set `name` and `kind` and implement :meth:`judge` (or :meth:`ascore`)."""

    name: ClassVar[str] = "metric"
    kind: ClassVar[str] = "pass"  # "pass" | "score"
    is_async: ClassVar[bool] = False
    needs_reference: ClassVar[bool] = True
    threshold: float = 0.5  # score metrics: the score from which an answer passes

    @property
    def label(self) -> str:
        """The name results are keyed by (a user metric's function name, else the built-in name)."""
        return self.name

    def provider_ids(self) -> dict[str, str]:
        """The configured providers this metric calls (a judge, an embedder), by the option naming each.

        The registry checks, when the config loads, that each is one of the config's providers.
        """
        return {}

    def judge(self, output: str, reference: Reference) -> MetricResult:
        """The verdict on a text answer; the base handles errors and missing references."""
        raise NotImplementedError

    def score(self, completion: Completion, case: Case) -> MetricResult:
        """The verdict on one completion of one case (never raises for bad model output)."""
        if self.needs_reference and reference_text(case.reference) is None and not case.reference.tool_calls:
            return NO_REFERENCE
        if completion.error is not None or completion.text is None:
            return NO_ANSWER
        return self.judge(completion.text, case.reference)

    async def ascore(self, completion: Completion, case: Case, ctx: ScoringContext | None) -> MetricResult:
        return self.score(completion, case)

    def score_batch(
        self, texts: Sequence[str | None], references: Sequence[Reference]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passed) for many answers at once, NaN where the metric cannot judge."""
        scores = np.full(len(texts), np.nan)
        passed = np.full(len(texts), np.nan)
        for i, (text, reference) in enumerate(zip(texts, references, strict=True)):
            result = self.score(Completion(text=text), _case_with(reference))
            if result.score is not None:
                scores[i] = result.score
            if result.passed is not None:
                passed[i] = float(result.passed)
        return scores, passed

    def verdict(self, score: float, reason: str | None = None) -> MetricResult:
        """A score metric's result: passed when the score reaches the threshold."""
        return MetricResult(score, score >= self.threshold, reason)


def _case_with(reference: Reference) -> Case:
    return Case(id="", api="chat.completions", provider="", model="", request={}, reference=reference)


def passed(ok: bool, reason: str | None = None) -> MetricResult:
    """A pass-kind result."""
    return MetricResult(1.0 if ok else 0.0, ok, reason)
