"""The built-in metrics: exact, contains, regex, numeric, fuzzy, JSON, JSON schema, tool calls, similarity.

Options come from the config (`{fuzzy: {threshold: 0.9}}`) as constructor keywords. The three cheap
text metrics also score whole columns at once (`score_batch`), which is what large comparisons use.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from bakeoff.errors import ConfigError
from bakeoff.replay.scoring.base import (
    NO_ANSWER,
    NO_REFERENCE,
    Metric,
    ScoringContext,
    passed,
    reference_text,
)
from bakeoff.replay.types import Case, Completion, MetricResult, Reference

_EDGE_PUNCTUATION = " \t\n.,;:!?\"'`"
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_WORD = re.compile(r"\w+")


@functools.lru_cache(maxsize=1 << 16)
def normalize(text: str) -> str:
    """Casefolded, whitespace collapsed, surrounding punctuation and quotes removed.

    Cached: the same reference is normalised once per provider and metric otherwise, and answers repeat.
    """
    return " ".join(text.casefold().split()).strip(_EDGE_PUNCTUATION)


TOOL_CALL_REFERENCE = MetricResult(None, None, "not applicable: the reference is a tool call, not text")


class _TextMetric(Metric):
    """A metric comparing the answer's text with the reference's: a tool-call reference is not its
    business (not applicable, left out of the figures), never a 0."""

    def score(self, completion: Completion, case: Case) -> MetricResult:
        if case.reference.tool_calls and reference_text(case.reference) is None:
            return TOOL_CALL_REFERENCE
        return super().score(completion, case)


class ExactMatch(_TextMetric):
    """The answer equals the reference (normalised unless `normalize: false`)."""

    name = "exact_match"
    kind = "pass"

    def __init__(self, normalize: bool = True) -> None:
        self.normalize = normalize

    def _prepare(self, text: str) -> str:
        return normalize(text) if self.normalize else text

    def judge(self, output: str, reference: Reference) -> MetricResult:
        expected = reference_text(reference) or ""
        return passed(self._prepare(output) == self._prepare(expected))

    def score_batch(
        self, texts: Sequence[str | None], references: Sequence[Reference]
    ) -> tuple[np.ndarray, np.ndarray]:
        prepare = self._prepare
        expected = [reference_text(r) for r in references]
        result = np.array(
            [
                np.nan if e is None else (0.0 if t is None else float(prepare(t) == prepare(e)))
                for t, e in zip(texts, expected, strict=True)
            ]
        )
        return result, result.copy()


class Contains(Metric):
    """The answer contains all (or any) of `values`; without values, the reference text itself."""

    name = "contains"
    kind = "pass"

    def __init__(self, values: list[str] | None = None, mode: str = "all", case_sensitive: bool = False):
        if values is not None and (
            not isinstance(values, list) or not all(isinstance(v, str) for v in values)
        ):
            raise ConfigError("metrics: contains: 'values' must be a list of strings")
        if mode not in ("all", "any"):
            raise ConfigError(f"metrics: contains: mode must be 'all' or 'any', not {mode!r}")
        self.values = values
        self.mode = mode
        self.case_sensitive = case_sensitive
        self.needs_reference = values is None  # type: ignore[misc]

    def judge(self, output: str, reference: Reference) -> MetricResult:
        needles = self.values if self.values is not None else [reference_text(reference) or ""]
        if not self.case_sensitive:
            output = output.casefold()
            needles = [n.casefold() for n in needles]
        found = [n in output for n in needles]
        ok = all(found) if self.mode == "all" else any(found)
        missing = [n for n, f in zip(needles, found, strict=True) if not f]
        return passed(ok, None if ok else f"missing: {', '.join(missing)[:200]}")


class Regex(Metric):
    """The answer matches `pattern` (searched anywhere; anchor it to match the whole answer)."""

    name = "regex"
    kind = "pass"
    needs_reference = False

    def __init__(self, pattern: str | None = None, flags: str = "") -> None:
        if not pattern:
            raise ConfigError("metrics: regex needs a 'pattern' option")
        flag_value = 0
        for letter in flags:
            flag_value |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}.get(letter, 0)
        try:
            self.pattern = re.compile(pattern, flag_value)
        except re.error as exc:
            raise ConfigError(f"metrics: regex: invalid pattern {pattern!r}: {exc}") from None

    def judge(self, output: str, reference: Reference) -> MetricResult:
        return passed(self.pattern.search(output) is not None)


@functools.lru_cache(maxsize=1 << 16)
def last_number(text: str) -> float | None:
    """The last number in the text (`1,234.5`, `-3`, `.5`), or None."""
    matches = _NUMBER.findall(text)
    if not matches:
        return None
    try:
        return float(matches[-1].replace(",", ""))
    except ValueError:
        return None


class NumericMatch(Metric):
    """The answer's last number equals the reference's, within `tolerance` (absolute) or `rel_tolerance`."""

    name = "numeric_match"
    kind = "pass"

    def __init__(self, tolerance: float = 1e-6, rel_tolerance: float = 0.0) -> None:
        self.tolerance = float(tolerance)
        self.rel_tolerance = float(rel_tolerance)

    def expected_number(self, reference: Reference) -> float | None:
        if reference.from_expected and isinstance(reference.expected, int | float):
            return float(reference.expected)
        text = reference_text(reference)
        return None if text is None else last_number(text)

    def _close(self, got: float | None, want: float) -> bool:
        return got is not None and math.isclose(got, want, rel_tol=self.rel_tolerance, abs_tol=self.tolerance)

    def score(self, completion: Completion, case: Case) -> MetricResult:
        want = self.expected_number(case.reference)
        if want is None:
            return MetricResult(None, None, "not applicable: the reference has no number")
        if completion.error is not None or completion.text is None:
            return NO_ANSWER
        got = last_number(completion.text)
        return passed(self._close(got, want), None if got is not None else "no number in the answer")

    def score_batch(
        self, texts: Sequence[str | None], references: Sequence[Reference]
    ) -> tuple[np.ndarray, np.ndarray]:
        wanted = [self.expected_number(r) for r in references]
        result = np.array(
            [
                np.nan if w is None else (0.0 if t is None else float(self._close(last_number(t), w)))
                for t, w in zip(texts, wanted, strict=True)
            ]
        )
        return result, result.copy()


class Fuzzy(_TextMetric):
    """Normalised edit similarity (Indel ratio) of answer and reference; passes from `threshold`."""

    name = "fuzzy"
    kind = "score"

    def __init__(self, threshold: float = 0.8) -> None:
        self.threshold = float(threshold)

    def judge(self, output: str, reference: Reference) -> MetricResult:
        from rapidfuzz.fuzz import ratio

        return self.verdict(ratio(normalize(output), normalize(reference_text(reference) or "")) / 100)

    def score_batch(
        self, texts: Sequence[str | None], references: Sequence[Reference]
    ) -> tuple[np.ndarray, np.ndarray]:
        from rapidfuzz.fuzz import ratio

        expected = [reference_text(r) for r in references]
        scores = np.array(
            [
                np.nan if e is None else (0.0 if t is None else ratio(normalize(t), normalize(e)) / 100)
                for t, e in zip(texts, expected, strict=True)
            ]
        )
        passes = np.where(np.isnan(scores), np.nan, (scores >= self.threshold).astype(float))
        return scores, passes


def parse_json_answer(text: str) -> Any:
    """The JSON value of an answer, also from a ```json fenced block; raises ValueError when there is none."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        fenced = _FENCE.search(text)
        if fenced is None:
            raise ValueError("not JSON") from None
        try:
            return orjson.loads(fenced.group(1))
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"fenced block is not JSON: {exc}") from None


class JsonValid(Metric):
    """The answer is JSON (or holds a fenced JSON block)."""

    name = "json_valid"
    kind = "pass"
    needs_reference = False

    def judge(self, output: str, reference: Reference) -> MetricResult:
        try:
            parse_json_answer(output)
        except ValueError as exc:
            return passed(False, str(exc))
        return passed(True)


class JsonSchema(Metric):
    """The answer is JSON valid against `schema`."""

    name = "json_schema"
    kind = "pass"
    needs_reference = False

    def __init__(self, schema: dict[str, Any] | None = None) -> None:
        import jsonschema

        if not isinstance(schema, dict):
            raise ConfigError("metrics: json_schema needs a 'schema' option (a JSON schema object)")
        try:
            validator_class = jsonschema.validators.validator_for(schema)
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(f"metrics: json_schema: invalid schema: {exc.message}") from None
        self.validator = validator_class(schema)

    def judge(self, output: str, reference: Reference) -> MetricResult:
        try:
            value = parse_json_answer(output)
        except ValueError as exc:
            return passed(False, str(exc))
        error = next(iter(self.validator.iter_errors(value)), None)
        return passed(error is None, None if error is None else error.message[:200])


def tool_calls_of(value: Any) -> list[tuple[str, Any]]:
    """(name, parsed arguments) of tool calls in the OpenAI, flat or single-dict shape."""
    if value is None:
        return []
    items = [value] if isinstance(value, dict) else list(value)
    calls = []
    for item in items:
        if not isinstance(item, dict):
            continue
        nested = item.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else item
        arguments = function.get("arguments", function.get("input"))
        if isinstance(arguments, str):
            with contextlib.suppress(orjson.JSONDecodeError):  # else compared as the raw string
                arguments = orjson.loads(arguments)
        calls.append((str(function.get("name")), arguments))
    return calls


class ToolCallMatch(Metric):
    """Share of the reference's tool calls made with the same name and arguments; passes on all, no extras."""

    name = "tool_call_match"
    kind = "score"
    threshold = 1.0

    def score(self, completion: Completion, case: Case) -> MetricResult:
        reference = case.reference
        wanted = tool_calls_of(reference.expected if reference.from_expected else reference.tool_calls)
        if not wanted:
            return MetricResult(None, None, "not applicable: the reference makes no tool call")
        if completion.error is not None:
            return NO_ANSWER
        remaining = tool_calls_of(completion.tool_calls)
        extra = len(remaining)
        matched = 0
        for call in wanted:
            if call in remaining:
                remaining.remove(call)
                matched += 1
                extra -= 1
        score = matched / len(wanted)
        ok = matched == len(wanted) and extra == 0
        reason = None if ok else f"{matched}/{len(wanted)} calls matched, {extra} extra"
        return MetricResult(score, ok, reason)


def _lexical_vector(text: str) -> Counter[int]:
    words = _WORD.findall(text.casefold())
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return Counter(zlib.crc32(g.encode()) & 0xFFFFF for g in grams)


def _cosine(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    va, vb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return 0.0 if norm == 0 else max(0.0, float(va @ vb) / norm)


class SemanticSimilarity(_TextMetric):
    """Cosine similarity of answer and reference embeddings from `provider`'s embeddings endpoint.

    Without a provider it falls back to a lexical cosine (hashed word unigrams and bigrams) and says so
    in every reason: useful offline, but it measures shared wording, not meaning.
    """

    name = "semantic_similarity"
    kind = "score"

    def __init__(self, provider: str | None = None, threshold: float = 0.85) -> None:
        self.provider = provider
        self.threshold = float(threshold)
        self.is_async = provider is not None  # type: ignore[misc]

    def provider_ids(self) -> dict[str, str]:
        return {"provider": self.provider} if self.provider else {}

    def judge(self, output: str, reference: Reference) -> MetricResult:
        a, b = _lexical_vector(output), _lexical_vector(reference_text(reference) or "")
        dot = sum(count * b.get(key, 0) for key, count in a.items())
        norm = math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
        return self.verdict(0.0 if norm == 0 else dot / norm, "lexical fallback (no embeddings provider)")

    async def ascore(self, completion: Completion, case: Case, ctx: ScoringContext | None) -> MetricResult:
        if self.provider is None or ctx is None or ctx.embed is None:
            return self.score(completion, case)
        expected = reference_text(case.reference)
        if expected is None:
            return NO_REFERENCE
        if completion.error is not None or not completion.text:
            return NO_ANSWER
        vectors = await ctx.embed(self.provider, [completion.text, expected])
        return self.verdict(_cosine(vectors[0], vectors[1]))


BUILTIN: dict[str, type[Metric]] = {
    m.name: m
    for m in (
        ExactMatch,
        Contains,
        Regex,
        NumericMatch,
        Fuzzy,
        JsonValid,
        JsonSchema,
        ToolCallMatch,
        SemanticSimilarity,
    )
}
