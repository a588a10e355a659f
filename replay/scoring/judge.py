"""`llm_judge`: a configured judge model scores answers against criteria, or picks the better of two.

The judge must answer in strict JSON. Its reply is parsed robustly (a bare object, a fenced block, an
object inside prose) and then *validated*: every criterion present, every score an integer from 1 to 5.
A reply that fails is an error for that row (`score` None, the reason says why) — never a silent pass
or fail. Pairwise mode asks twice with the candidate and the reference swapped; verdicts that change
with the order are position bias and count as a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from bakeoff.errors import ConfigError
from bakeoff.replay.scoring.base import NO_ANSWER, NO_REFERENCE, Metric, ScoringContext, reference_text
from bakeoff.replay.types import Case, Completion, MetricResult, Reference

RUBRIC_PROMPT = """You are grading an AI assistant's answer.
Conversation:
{conversation}

Reference answer (may be imperfect):
{reference}

Answer to grade:
{answer}

Score the answer from 1 (very poor) to 5 (excellent) on each criterion: {criteria}.
Reply with only this JSON object: {{"scores": {{{example}}}, "reason": "<one sentence>"}}"""

PAIRWISE_PROMPT = """You are comparing two answers to the same conversation.
Conversation:
{conversation}

Answer A:
{first}

Answer B:
{second}

Which answer is better on {criteria}? Reply with only this JSON object:
{{"winner": "A" | "B" | "tie", "reason": "<one sentence>"}}"""


def find_json_object(text: str) -> dict[str, Any] | None:
    """The first balanced `{...}` in the text that parses as a JSON object, or None."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for end in range(start, len(text)):
            char = text[end]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    try:
                        value = orjson.loads(text[start : end + 1])
                    except orjson.JSONDecodeError:
                        break
                    if isinstance(value, dict):
                        return value
                    break
        start = text.find("{", start + 1)
    return None


def _conversation(case: Case) -> str:
    lines = []
    for message in (case.request.get("messages") or [])[-6:]:
        content = message.get("content")
        if not isinstance(content, str):
            content = orjson.dumps(content).decode()
        lines.append(f"{message.get('role', 'user')}: {content[:2000]}")
    return "\n".join(lines) or orjson.dumps(case.request).decode()[:4000]


def _answer_text(completion: Completion) -> str:
    if completion.tool_calls:
        return (completion.text or "") + "\nTool calls: " + orjson.dumps(completion.tool_calls).decode()
    return completion.text or ""


class LLMJudge(Metric):
    """Rubric scores (mean of (s - 1) / 4 over criteria) or pairwise wins against the reference."""

    name = "llm_judge"
    kind = "score"
    is_async = True

    def __init__(
        self,
        judge: str | None = None,
        criteria: Sequence[str] = ("correctness", "helpfulness"),
        mode: str = "rubric",
        threshold: float = 0.7,
    ) -> None:
        if not judge:
            raise ConfigError("metrics: llm_judge needs a 'judge' option (a provider id)")
        if mode not in ("rubric", "pairwise"):
            raise ConfigError(f"metrics: llm_judge: mode must be 'rubric' or 'pairwise', not {mode!r}")
        if not criteria:
            raise ConfigError("metrics: llm_judge: criteria must not be empty")
        self.judge_id = judge
        self.criteria = [str(c) for c in criteria]
        self.mode = mode
        self.threshold = float(threshold)

    def provider_ids(self) -> dict[str, str]:
        return {"judge": self.judge_id}

    def score(self, completion: Completion, case: Case) -> MetricResult:
        return MetricResult(None, None, "llm_judge needs a scoring context")

    async def ascore(self, completion: Completion, case: Case, ctx: ScoringContext | None) -> MetricResult:
        if ctx is None:
            return self.score(completion, case)
        if completion.error is not None or (completion.text is None and not completion.tool_calls):
            return NO_ANSWER
        if self.mode == "rubric":
            return await self._rubric(completion, case, ctx)
        return await self._pairwise(completion, case, ctx)

    async def _ask(self, ctx: ScoringContext, prompt: str) -> tuple[str | None, float]:
        request = {
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "response_format": {"type": "json_object"},
        }
        reply, cost = await ctx.complete(self.judge_id, request)
        if reply.error is not None:
            return None, cost or 0.0
        return reply.text or "", cost or 0.0

    async def _rubric(self, completion: Completion, case: Case, ctx: ScoringContext) -> MetricResult:
        prompt = RUBRIC_PROMPT.format(
            conversation=_conversation(case),
            reference=_reference(case.reference) or "(none)",
            answer=_answer_text(completion),
            criteria=", ".join(self.criteria),
            example=", ".join(f'"{c}": <1-5>' for c in self.criteria),
        )
        text, cost = await self._ask(ctx, prompt)
        if text is None:
            return MetricResult(None, None, "the judge call failed", cost)
        parsed = self.parse_rubric(text)
        if isinstance(parsed, str):
            return MetricResult(None, None, f"judge reply could not be parsed: {parsed}", cost)
        scores, reason = parsed
        value = sum((s - 1) / 4 for s in scores.values()) / len(scores)
        return MetricResult(value, value >= self.threshold, reason, cost)

    def parse_rubric(self, text: str) -> tuple[dict[str, int], str | None] | str:
        """(scores by criterion, reason), or a string saying what is wrong with the reply."""
        reply = find_json_object(text)
        if reply is None:
            return "no JSON object in the reply"
        scores = reply.get("scores", reply)
        if not isinstance(scores, dict):
            return "'scores' is not an object"
        checked: dict[str, int] = {}
        for criterion in self.criteria:
            value = scores.get(criterion)
            if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
                return f"criterion {criterion!r} has no integer score"
            if not 1 <= int(value) <= 5:
                return f"criterion {criterion!r} scored {value}, outside 1-5"
            checked[criterion] = int(value)
        reason = reply.get("reason")
        return checked, reason if isinstance(reason, str) else None

    async def _pairwise(self, completion: Completion, case: Case, ctx: ScoringContext) -> MetricResult:
        reference = _reference(case.reference)
        if reference is None:
            return NO_REFERENCE
        answer = _answer_text(completion)
        verdicts, total_cost = [], 0.0
        for first, second in ((answer, reference), (reference, answer)):
            prompt = PAIRWISE_PROMPT.format(
                conversation=_conversation(case),
                first=first,
                second=second,
                criteria=", ".join(self.criteria),
            )
            text, cost = await self._ask(ctx, prompt)
            total_cost += cost
            winner = None if text is None else (find_json_object(text) or {}).get("winner")
            if winner not in ("A", "B", "tie"):
                return MetricResult(
                    None, None, "judge reply could not be parsed: no winner A/B/tie", total_cost
                )
            verdicts.append(winner)
        # The candidate is A in the first question and B in the second.
        candidate_wins = (verdicts[0] == "A") + (verdicts[1] == "B")
        candidate_loses = (verdicts[0] == "B") + (verdicts[1] == "A")
        if candidate_wins == 2:
            return MetricResult(1.0, True, "better than the reference in both orders", total_cost)
        if candidate_loses == 2:
            return MetricResult(0.0, False, "worse than the reference in both orders", total_cost)
        if verdicts == ["tie", "tie"]:
            return MetricResult(0.5, True, "tie", total_cost)
        return MetricResult(0.5, True, "position-inconsistent verdicts count as a tie", total_cost)


def _reference(reference: Reference) -> str | None:
    text = reference_text(reference)
    if text is None and reference.tool_calls:
        return "Tool calls: " + orjson.dumps(reference.tool_calls).decode()
    return text
