"""A recorded answer is a replay's reference: a refusal counts as one, an incomplete stream does not."""

from __future__ import annotations

from typing import Any

from bakeoff.replay.run.sources import cases_from_rows


def event(event_id: str, **response: Any) -> dict[str, Any]:
    body = {"text": None, "finish_reason": "stop", "tool_calls": None, "refusal": None, "incomplete": False}
    return {
        "id": event_id,
        "provider": "openai",
        "api": "chat.completions",
        "model": "m",
        "request": {"model": "m", "messages": [{"role": "user", "content": "q"}]},
        "response": {**body, **response},
    }


def test_incomplete_answer_is_no_reference_unless_expected_stands_in() -> None:
    rows = [
        event("cut", text="The answer is", finish_reason=None, incomplete=True),
        {**event("cut-expected", text="The", incomplete=True), "expected": "The answer is 4"},
        event("whole", text="The answer is 4"),
    ]
    loaded = cases_from_rows(rows)
    assert [c.id for c in loaded.cases] == ["cut-expected", "whole"]
    (skipped,) = loaded.skipped
    assert skipped["event_id"] == "cut" and "incomplete" in skipped["reason"]
    assert skipped["reason"].startswith("no reference")


def test_refusal_is_an_answer() -> None:
    (case,) = cases_from_rows([event("refused", refusal="I can't help with that.")]).cases
    assert case.reference.text == "I can't help with that."
    assert case.recorded is not None and case.recorded.text == "I can't help with that."
