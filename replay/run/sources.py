"""Reading datasets into cases: JSON lines of events (with `expected` and `weight`) or plain test cases.

A row is either an event of the contract's schema, optionally with `expected` (the reference answer)
and `weight` (its inverse inclusion probability), or a plain test case `{"id", "input": text or
messages, "expected", "tags"}`. Rows that cannot be replayed (failed calls, embeddings, answers
whose stream the application stopped reading, when no `expected` stands in for them) are skipped with
a reason, never silently. A refusal is an answer: it is the reference when the model said nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bakeoff.dataset_format import case_messages, case_tags
from bakeoff.errors import UsageError
from bakeoff.replay.types import Case, Completion, Reference

_INCOMPLETE = "no reference: the recorded answer is incomplete (the application stopped reading its stream)"


@dataclass
class Loaded:
    """The cases to replay and the rows left out, with why."""

    cases: list[Case] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def _answer_text(response: dict[str, Any]) -> str | None:
    text = response.get("text")
    return text if text is not None else response.get("refusal")


def _case_from_event(row: dict[str, Any]) -> Case:
    response = row.get("response") or {}
    expected = row.get("expected")
    reference = Reference(
        text=_answer_text(response),
        tool_calls=response.get("tool_calls"),
        expected=expected,
        from_expected=expected is not None,
    )
    return Case(
        id=str(row["id"]),
        api=str(row.get("api") or "chat.completions"),
        provider=str(row["provider"]),
        model=str(row.get("model") or ""),
        request=dict(row.get("request") or {}),
        reference=reference,
        weight=float(row.get("weight", 1.0)),
        tags=tuple(row.get("tags") or ()),
        recorded=_recorded(row),
        feedback=_feedback(row.get("feedback")),
    )


def _feedback(value: Any) -> float | None:
    """A dataset row's `feedback`: the users' mean score in [0, 1] (anything else is no feedback)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return float(value)
    return None


def _recorded(row: dict[str, Any]) -> Completion:
    """What production answered, as a completion: the baseline a replay is compared against by default."""
    response = row.get("response") or {}
    usage = row.get("usage") or {}
    return Completion(
        text=_answer_text(response),
        tool_calls=response.get("tool_calls"),
        finish_reason=response.get("finish_reason"),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cached_input_tokens=usage.get("cached_input_tokens"),
        cache_creation_input_tokens=usage.get("cache_creation_input_tokens"),
        latency_ms=row.get("latency_ms"),
        ttft_ms=row.get("ttft_ms"),
    )


def _case_from_test(row: dict[str, Any], number: int) -> Case:
    messages = case_messages(row, f"row {number}")
    return Case(
        id=str(row.get("id") or f"case-{number}"),
        api="chat.completions",
        provider="dataset",
        model=str(row.get("model") or ""),
        request={"messages": messages},
        reference=Reference(expected=row.get("expected"), from_expected=row.get("expected") is not None),
        weight=float(row.get("weight", 1.0)),
        tags=tuple(case_tags(row)),
    )


def cases_from_rows(
    rows: Iterable[dict[str, Any]], tag: str | None = None, max_samples: int | None = None
) -> Loaded:
    """Cases from parsed rows, in dataset order: those with `tag` (if given), the first `max_samples`."""
    loaded = Loaded()
    for number, row in enumerate(rows, 1):
        if "input" in row and "request" not in row:
            case = _case_from_test(row, number)
        elif "request" in row and "provider" in row and "id" in row:
            if row.get("status") == "error":
                loaded.skipped.append({"event_id": str(row["id"]), "reason": "the recorded call failed"})
                continue
            if row.get("api") == "embeddings":
                loaded.skipped.append({"event_id": str(row["id"]), "reason": "embeddings are not replayed"})
                continue
            if (row.get("response") or {}).get("incomplete") and row.get("expected") is None:
                loaded.skipped.append({"event_id": str(row["id"]), "reason": _INCOMPLETE})
                continue
            case = _case_from_event(row)
        else:
            raise UsageError(
                f"row {number}: neither an event (id, provider, request) nor a test case (input)"
            )
        if tag is not None and tag not in case.tags:
            continue
        loaded.cases.append(case)
        if max_samples is not None and len(loaded.cases) >= max_samples:
            break
    return loaded
