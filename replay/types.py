"""Data shared by the replay engine, the metrics and the analysis.

A :class:`Case` is one dataset row to replay; a :class:`Completion` is one provider's answer to it;
a :class:`MetricResult` is one metric's verdict on that answer. One line of `detailed_results.jsonl`
is a :class:`ResultRow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reference:
    """What a replayed answer is judged against: the dataset's `expected`, else the recorded response."""

    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    expected: Any = None  # the dataset row's `expected` value as given (str, number, object, list)
    from_expected: bool = False


@dataclass(frozen=True)
class Case:
    """One row of a dataset, normalised: what to send and what to compare against."""

    id: str
    api: str  # the API the request was recorded on: "chat.completions" | "responses" | "messages"
    provider: str  # the provider it was recorded on
    model: str
    request: dict[str, Any]  # the recorded request body, as sent
    reference: Reference
    weight: float = 1.0  # inverse inclusion probability from sampling
    tags: tuple[str, ...] = ()
    recorded: Completion | None = None  # production's own answer, timing and usage (events only)
    feedback: float | None = None  # the users' mean feedback score on the recorded answer, if any


@dataclass
class Completion:
    """One provider's answer to a case (or the error it gave)."""

    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None  # the whole input, cached and cache-written tokens included
    output_tokens: int | None = None
    cached_input_tokens: int | None = None  # read from the provider's prompt cache (cheaper)
    cache_creation_input_tokens: int | None = None  # written to it (dearer, on some providers)
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: dict[str, Any] | None = None  # {"type", "message", "status_code"}
    cached: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class MetricResult:
    """A metric's verdict: a score in [0, 1], pass/fail, and why. `score is None` means it could not judge."""

    score: float | None
    passed: bool | None
    reason: str | None = None
    cost: float | None = None  # what judging cost (LLM judges), reported apart from the provider's cost

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "passed": self.passed, "reason": self.reason}


@dataclass
class ResultRow:
    """One (event, provider) line of `detailed_results.jsonl`."""

    event_id: str
    provider: str
    output: dict[str, Any]  # {"text", "tool_calls", "finish_reason"}
    scores: dict[str, dict[str, Any]]  # metric -> MetricResult.to_json()
    latency_ms: float | None
    ttft_ms: float | None
    usage: dict[str, int | None]  # {"input_tokens", "output_tokens"}
    cost: float | None
    error: dict[str, Any] | None
    repeat: int = 0
    weight: float = 1.0
    tags: list[str] = field(default_factory=list)
