"""Metrics: the built-ins on real answers, configuration mistakes, user metrics, suites, and LLM judges
answering over HTTP from the simulated server (through the same engine as replay)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bakeoff.errors import ConfigError
from bakeoff.replay.scoring.judge import LLMJudge, find_json_object
from bakeoff.replay.scoring.registry import MetricPlan, build_metric, build_metrics, score_case
from bakeoff.replay.simulator.answers import Answer, last_user_text
from bakeoff.replay.simulator.server import SimulatorServer
from bakeoff.replay.types import Case, Completion, Reference
from support.replaying import replay


def case(
    expected: Any = None, text: str | None = None, tool_calls: Any = None, tags: tuple[str, ...] = ()
) -> Case:
    reference = Reference(
        text=text, tool_calls=tool_calls, expected=expected, from_expected=expected is not None
    )
    return Case(
        id="e",
        api="chat.completions",
        provider="openai",
        model="m",
        request={"messages": []},
        reference=reference,
        tags=tags,
    )


def verdict(spec: Any, output: str | None, **reference: Any) -> tuple[float | None, bool | None]:
    result = build_metric(spec).score(Completion(text=output), case(**reference))
    return result.score, result.passed


def test_exact_match_normalises() -> None:
    assert verdict("exact_match", "  Paris. ", expected="paris") == (1.0, True)
    assert verdict("exact_match", "Paris, France", expected="Paris") == (0.0, False)
    assert verdict({"exact_match": {"normalize": False}}, "paris", expected="Paris") == (0.0, False)
    assert verdict("exact_match", "The answer is 4.", text="the answer is 4") == (
        1.0,
        True,
    )  # recorded response


def test_contains_all_any_and_reference() -> None:
    spec = {"contains": {"values": ["30 days", "Orders"]}}
    assert verdict(spec, "Refunds within 30 days from the Orders page.")[1] is True
    assert verdict(spec, "Refunds within 30 days.")[1] is False
    assert verdict({"contains": {"values": ["x", "days"], "mode": "any"}}, "30 DAYS")[1] is True
    assert verdict("contains", "It is Paris, of course", expected="paris")[1] is True


def test_regex_and_its_configuration_errors() -> None:
    assert verdict({"regex": {"pattern": r"^\d{3}-\d{4}$"}}, "555-1234")[1] is True
    assert verdict({"regex": {"pattern": "hello", "flags": "i"}}, "HELLO there")[1] is True
    with pytest.raises(ConfigError, match="regex needs a 'pattern'"):
        build_metric("regex")
    with pytest.raises(ConfigError, match="invalid pattern"):
        build_metric({"regex": {"pattern": "(unclosed"}})


@pytest.mark.parametrize(
    ("answer", "expected", "ok"),
    [
        ("The answer is 1,234.5", 1234.5, True),
        ("It's -3 degrees", "-3", True),
        ("17 * 23 = 391", 391, True),
        ("17 * 23 = 392", 391, False),
        ("no idea", 391, False),
        ("0.5", ".5", True),
    ],
)
def test_numeric_match(answer: str, expected: Any, ok: bool) -> None:
    assert verdict("numeric_match", answer, expected=expected)[1] is ok


def test_numeric_match_tolerance_and_not_applicable() -> None:
    assert verdict({"numeric_match": {"tolerance": 0.1}}, "3.14", expected=3.1)[1] is True
    assert verdict({"numeric_match": {"rel_tolerance": 0.01}}, "1005", expected=1000)[1] is True
    assert verdict("numeric_match", "hello", text="no number here") == (None, None)


def test_fuzzy_threshold() -> None:
    score, passed = verdict(
        "fuzzy", "Go to Settings > Security to reset it", text="Go to Settings > Security to reset"
    )
    assert 0.8 < score < 1 and passed
    assert verdict({"fuzzy": {"threshold": 0.99}}, "Go to Settings", text="Go to Security")[1] is False


def test_json_metrics() -> None:
    assert verdict("json_valid", '{"a": 1}')[1] is True
    assert verdict("json_valid", 'Sure! ```json\n{"a": 1}\n```')[1] is True
    assert verdict("json_valid", "{a: 1}")[1] is False
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    assert verdict({"json_schema": {"schema": schema}}, '{"name": "Dana"}')[1] is True
    assert verdict({"json_schema": {"schema": schema}}, '{"name": 3}')[1] is False
    with pytest.raises(ConfigError, match="invalid schema"):
        build_metric({"json_schema": {"schema": {"type": "no-such-type"}}})


def test_tool_call_match_shapes() -> None:
    recorded = [
        {
            "id": "1",
            "type": "function",
            "function": {"name": "record_order", "arguments": '{"total": 12.5, "name": "Dana"}'},
        }
    ]
    metric = build_metric("tool_call_match")
    same = Completion(
        tool_calls=[{"function": {"name": "record_order", "arguments": {"name": "Dana", "total": 12.5}}}]
    )
    assert metric.score(same, case(tool_calls=recorded)).passed is True
    extra = Completion(tool_calls=[*(same.tool_calls or []), {"name": "other", "arguments": {}}])
    result = metric.score(extra, case(tool_calls=recorded))
    assert result.score == 1.0 and result.passed is False
    wrong = Completion(tool_calls=[{"name": "record_order", "arguments": {"name": "Dana", "total": 99}}])
    assert metric.score(wrong, case(tool_calls=recorded)).score == 0.0
    assert metric.score(Completion(text="hi"), case(text="hi")).score is None  # nothing to match


def test_errors_and_missing_references() -> None:
    failed = Completion(error={"type": "RateLimitError", "message": "429", "status_code": 429})
    assert build_metric("exact_match").score(failed, case(expected="x")).passed is False
    assert build_metric("exact_match").score(Completion(text="x"), case()).score is None


def test_semantic_similarity_lexical_fallback() -> None:
    metric = build_metric("semantic_similarity")
    close = metric.score(
        Completion(text="Reset your password in Settings"), case(text="Reset the password in Settings")
    )
    far = metric.score(
        Completion(text="Shipping takes five days"), case(text="Reset the password in Settings")
    )
    assert close.score > far.score and "lexical fallback" in close.reason


def test_unknown_names_and_options_suggest_the_right_one() -> None:
    with pytest.raises(ConfigError, match="did you mean 'fuzzy'"):
        build_metric("fuzy")
    with pytest.raises(ConfigError, match="did you mean 'threshold'"):
        build_metric({"fuzzy": {"treshold": 0.9}})
    with pytest.raises(ConfigError, match="listed twice"):
        build_metrics(["fuzzy", {"fuzzy": {"threshold": 0.5}}])
    with pytest.raises(ConfigError, match="judge 'nobody' is not a configured provider"):
        build_metric({"llm_judge": {"judge": "nobody"}}, provider_ids=["a", "b"])


@pytest.fixture()
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "team_metrics.py").write_text(
        "def polite(completion, case) -> bool:\n"
        "    return 'please' in (completion.text or '').lower()\n"
        "def length_score(completion, case):\n"
        "    return min(1.0, len(completion.text or '') / 100)\n"
        "def broken(completion, case):\n"
        "    raise RuntimeError('bug in my metric')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "team_metrics"
    sys.modules.pop("team_metrics", None)


async def test_user_metrics_and_suites(user_module: str) -> None:
    plan = MetricPlan.from_config(
        ["exact_match", f"{user_module}:broken"],
        {"greeting": [f"{user_module}:polite"], "long": [f"{user_module}:length_score", "exact_match"]},
    )
    greeting = case(expected="hello", tags=("greeting",))
    assert [m.label for m in plan.for_case(greeting)] == ["exact_match", "broken", "polite"]
    assert [m.label for m in plan.for_case(case(expected="x", tags=("long",)))] == [
        "exact_match",
        "broken",
        "length_score",
    ]
    results = await score_case(plan.for_case(greeting), Completion(text="Hello, please sit"), greeting, None)
    assert results["polite"].passed is True
    assert plan.kinds() == {
        "exact_match": "pass",
        "broken": "score",
        "polite": "pass",
        "length_score": "score",
    }
    with pytest.raises(ConfigError, match="must be a list of strings"):
        build_metric({"contains": {"values": "abc"}})
    assert results["broken"].score is None and "bug in my metric" in results["broken"].reason
    with pytest.raises(ConfigError, match="cannot load"):
        build_metric(f"{user_module}:missing")


def test_score_batch_agrees_with_score() -> None:
    rng = np.random.default_rng(0)
    words = ["Paris", "paris.", "The answer is 12", "12", "1,200", "hello world", None]
    texts = [words[i] for i in rng.integers(0, len(words), 300)]
    references = [
        Reference(expected=words[i], from_expected=words[i] is not None)
        for i in rng.integers(0, len(words), 300)
    ]
    for name in ("exact_match", "numeric_match", "fuzzy"):
        metric = build_metric(name)
        scores, passes = metric.score_batch(texts, references)
        for i, (text, reference) in enumerate(zip(texts, references, strict=True)):
            single = metric.score(Completion(text=text), case(expected=reference.expected))
            assert (single.score is None and np.isnan(scores[i])) or single.score == pytest.approx(scores[i])
            assert (single.passed is None and np.isnan(passes[i])) or float(single.passed) == passes[i]


def test_find_json_object_in_prose_and_fences() -> None:
    assert find_json_object('Sure. {"scores": {"a": 4}} Hope it helps') == {"scores": {"a": 4}}
    assert find_json_object('```json\n{"x": "}"}\n```') == {"x": "}"}
    assert find_json_object('{not json} then {"ok": true}') == {"ok": True}
    assert find_json_object("incorrect") is None


def test_rubric_replies_are_validated_never_guessed() -> None:
    judge = LLMJudge(judge="j", criteria=["correctness", "helpfulness"])
    assert judge.parse_rubric('{"scores": {"correctness": 5, "helpfulness": 3}, "reason": "fine"}') == (
        {"correctness": 5, "helpfulness": 3},
        "fine",
    )
    assert "outside 1-5" in judge.parse_rubric('{"scores": {"correctness": 7, "helpfulness": 3}}')
    assert "no integer score" in judge.parse_rubric('{"scores": {"correctness": 5}}')
    assert "no integer score" in judge.parse_rubric('{"scores": {"correctness": "good", "helpfulness": 3}}')
    assert judge.parse_rubric("The answer is incorrect.") == "no JSON object in the reply"


def judge_replies(model: str, request: dict[str, Any], api: str) -> Answer:
    """A judge model on the simulated server: each 'model' name is a judge with a known behaviour."""
    prompt = last_user_text(request, api)
    if model == "sim-small-fast":  # the candidate being judged
        return Answer("Paris is the capital of France.", input_tokens=10, output_tokens=8)
    if model == "judge-rubric":
        good = "Paris" in prompt.split("Answer to grade:")[-1]
        scores = {"correctness": 5 if good else 1, "helpfulness": 4}
        return Answer(
            f"Here you go: {json.dumps({'scores': scores, 'reason': 'checked'})}",
            input_tokens=200,
            output_tokens=30,
        )
    if model == "judge-prose":
        return Answer("The answer is incorrect.", input_tokens=200, output_tokens=6)
    if model == "judge-first":  # always prefers whatever is shown first: position bias
        return Answer('{"winner": "A", "reason": "first is better"}', input_tokens=200, output_tokens=10)
    raise ValueError(model)


@pytest.fixture()
def judge_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(responder=judge_replies) as server:
        yield server


@pytest.mark.parametrize(
    ("judge", "mode", "score", "reason"),
    [
        ("judge-rubric", "rubric", 0.875, "checked"),
        ("judge-prose", "rubric", None, "judge reply could not be parsed: no JSON object in the reply"),
        ("judge-first", "pairwise", 0.5, "position-inconsistent verdicts count as a tie"),
    ],
)
def test_llm_judges_through_the_replay_engine(
    judge_server: SimulatorServer, tmp_path: Path, judge: str, mode: str, score: float | None, reason: str
) -> None:
    providers = [
        {
            "id": "candidate",
            "provider": "openai-compatible",
            "model": "sim-small-fast",
            "base_url": judge_server.url + "/v1",
            "price": {"input_per_mtok": 1, "output_per_mtok": 1},
        },
        {
            "id": "judge",
            "provider": "openai-compatible",
            "model": judge,
            "base_url": judge_server.url + "/v1",
            "price": {"input_per_mtok": 10, "output_per_mtok": 10},
        },
    ]
    config = tmp_path / "bakeoff.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "replay": {
                    "providers": providers,
                    "metrics": [
                        {
                            "llm_judge": {
                                "judge": "judge",
                                "mode": mode,
                                "criteria": ["correctness", "helpfulness"],
                            }
                        }
                    ],
                    "cache_dir": str(tmp_path / "cache"),
                }
            }
        )
    )
    (tmp_path / "cases.jsonl").write_text(
        json.dumps({"id": "q1", "input": "Capital of France?", "expected": "Paris"}) + "\n"
    )
    assert replay(config, tmp_path / "cases.jsonl", tmp_path / "runs", "--providers", "candidate") == 0
    (run,) = list((tmp_path / "runs").iterdir())
    (row,) = [json.loads(line) for line in (run / "detailed_results.jsonl").read_text().splitlines()]
    assert row["provider"] == "candidate"
    assert row["scores"]["llm_judge"]["score"] == score
    assert row["scores"]["llm_judge"]["reason"] == reason
    calls = 2 if mode == "pairwise" else 1
    judge_cost = (
        calls * (200 + (10 if mode == "pairwise" else 30 if judge == "judge-rubric" else 6)) * 10 / 1e6
    )
    assert row["judge_cost"] == pytest.approx(judge_cost)
    benchmark = json.loads((run / "benchmark_results.json").read_text())
    assert benchmark["cost_analysis"]["candidate"]["judge_cost"] == pytest.approx(judge_cost)
    assert benchmark["cost_analysis"]["candidate"]["total_cost"] == pytest.approx(
        18 / 1e6
    )  # the judge is apart
    judged = [r for r in judge_server.requests if r["body"]["model"] == judge]
    assert len(judged) == calls and judged[0]["body"]["temperature"] == 0


def test_semantic_similarity_with_an_embeddings_endpoint(tmp_path: Path) -> None:
    """Embeddings from an OpenAI-compatible /embeddings endpoint (the simulated server's are hashes:
    equal texts are identical vectors, different texts unrelated ones)."""
    with SimulatorServer(responder=judge_replies) as server:
        providers = [
            {
                "id": "candidate",
                "provider": "openai-compatible",
                "model": "sim-small-fast",
                "base_url": server.url + "/v1",
            },
            {
                "id": "embedder",
                "provider": "openai-compatible",
                "model": "text-embedding-3-small",
                "base_url": server.url + "/v1",
            },
        ]
        config = tmp_path / "bakeoff.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "replay": {
                        "providers": providers,
                        "metrics": [{"semantic_similarity": {"provider": "embedder", "threshold": 0.99}}],
                        "cache_dir": str(tmp_path / "cache"),
                    }
                }
            )
        )
        cases = [
            {"id": "same", "input": "Capital of France?", "expected": "Paris is the capital of France."},
            {"id": "other", "input": "Capital of France?", "expected": "Lyon."},
        ]
        (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
        assert replay(config, tmp_path / "cases.jsonl", tmp_path / "runs", "--providers", "candidate") == 0
        embedded = [r for r in server.requests if r["api"] == "embeddings"]
    (run,) = list((tmp_path / "runs").iterdir())
    rows = {
        json.loads(line)["event_id"]: json.loads(line)
        for line in (run / "detailed_results.jsonl").read_text().splitlines()
    }
    assert rows["same"]["scores"]["semantic_similarity"]["score"] == pytest.approx(1.0)
    assert rows["same"]["scores"]["semantic_similarity"]["passed"] is True
    assert rows["other"]["scores"]["semantic_similarity"]["passed"] is False
    assert rows["other"]["scores"]["semantic_similarity"]["reason"] is None  # not the lexical fallback
    assert len(embedded) == 2 and embedded[0]["body"]["model"] == "text-embedding-3-small"
    with pytest.raises(ConfigError, match="provider 'nobody' is not a configured provider"):
        build_metric({"semantic_similarity": {"provider": "nobody"}}, provider_ids=["a"])


def test_metrics_from_entry_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A package can offer metrics by the `bakeoff.metrics` entry point group."""
    (tmp_path / "acme_metrics.py").write_text(
        "def shouty(completion, case) -> bool:\n    return (completion.text or '').isupper()\n"
    )
    info = tmp_path / "acme_metrics-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-metrics\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[bakeoff.metrics]\nshouty = acme_metrics:shouty\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    metric = build_metric("shouty")
    assert metric.label == "shouty"
    assert metric.score(Completion(text="HELLO"), case()).passed is True
    assert metric.score(Completion(text="hello"), case()).passed is False
    sys.modules.pop("acme_metrics", None)
