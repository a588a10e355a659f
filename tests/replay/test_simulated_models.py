"""Simulated models: deterministic, right as often as their quality says, and served to the real clients."""

from __future__ import annotations

import json
import math

import openai

from bakeoff.replay.simulator.models import (
    DEFAULT_MODELS,
    FAQ,
    SimulatedModel,
    answer,
    arithmetic_truth,
    extraction_truth,
    responder,
)
from bakeoff.replay.simulator.server import SimulatorServer

TOOL = {"type": "function", "function": {"name": "record_order", "parameters": {"type": "object"}}}


def ask(text: str, **extra: object) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def test_ground_truth_parsers() -> None:
    assert arithmetic_truth("What is 17 * 23?") == 391
    assert arithmetic_truth("compute 120 / 8") == 15
    assert arithmetic_truth("no numbers here") is None
    assert extraction_truth("Hi, I'm Dana Reyes (dana@example.com), order 1182, 129.90 in total.") == {
        "name": "Dana Reyes",
        "email": "dana@example.com",
        "total": 129.90,
    }


def test_answers_are_deterministic_and_differ_between_models() -> None:
    prompts = [ask(f"What is {a} * {a + 3}?") for a in range(60)]
    small, premium = DEFAULT_MODELS[2], DEFAULT_MODELS[3]
    assert [answer(small, p, "chat.completions").text for p in prompts] == [
        answer(small, p, "chat.completions").text for p in prompts
    ]
    assert [answer(small, p, "chat.completions").text for p in prompts] != [
        answer(premium, p, "chat.completions").text for p in prompts
    ]


def test_accuracy_matches_quality_within_binomial_tolerance() -> None:
    model = SimulatedModel("q80", quality=0.8)
    n = 1000
    correct = 0
    for i in range(n):
        a, b = 10 + i, 7 + i % 13
        reply = answer(model, ask(f"What is {a} + {b}?"), "chat.completions").text or ""
        correct += reply == f"The answer is {a + b}."
    sd = math.sqrt(n * 0.8 * 0.2)
    assert abs(correct - 0.8 * n) < 4 * sd  # 4 standard deviations: fails by chance once in ~15,000 runs


def test_support_and_extraction_families() -> None:
    perfect, hopeless = SimulatedModel("p", quality=1.0), SimulatedModel("h", quality=0.0)
    question = ask("What is your refund policy?")
    assert all(
        f in (answer(perfect, question, "chat.completions").text or "") for f in FAQ["refund"]["facts"]
    )
    assert not all(
        f in (answer(hopeless, question, "chat.completions").text or "") for f in FAQ["refund"]["facts"]
    )
    order = ask("Order from Sam Ortiz, sam.o@example.org, two chairs, 240.00.", tools=[TOOL])
    (call,) = answer(perfect, order, "chat.completions").tool_calls
    assert call["name"] == "record_order"
    assert call["arguments"] == {"name": "Sam Ortiz", "email": "sam.o@example.org", "total": 240.0}
    (wrong,) = answer(hopeless, order, "chat.completions").tool_calls
    assert wrong["arguments"] != call["arguments"]


def test_per_family_quality_and_latency_from_speed() -> None:
    model = SimulatedModel(
        "mixed", quality={"arithmetic": 1.0, "default": 0.0}, latency_ms=100, tokens_per_s=10
    )
    result = answer(model, ask("What is 2 + 2?"), "chat.completions")
    assert result.text == "The answer is 4."
    assert (
        0.8 * (100 + 1000 * result.output_tokens / 10)
        <= result.latency_ms
        <= 1.2 * (100 + 1000 * result.output_tokens / 10)
    )


def test_served_through_the_real_openai_client() -> None:
    with (
        SimulatorServer(responder=responder()) as server,
        openai.OpenAI(base_url=server.url + "/v1", api_key="k") as client,
    ):
        reply = client.chat.completions.create(
            model="sim-premium", messages=[{"role": "user", "content": "How long does shipping take?"}]
        )
        assert "business days" in (reply.choices[0].message.content or "")
        streamed = client.chat.completions.create(
            model="sim-medium",
            stream=True,
            tools=[TOOL],
            messages=[{"role": "user", "content": "I'm Dana Reyes (dana@example.com), 129.90 in total."}],
        )
        arguments = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in streamed
            if c.choices and c.choices[0].delta.tool_calls
        )
        assert json.loads(arguments)["email"] == "dana@example.com"
        echo = client.chat.completions.create(
            model="anything-else", messages=[{"role": "user", "content": "hi"}]
        )
        assert echo.choices[0].message.content == "hi"
