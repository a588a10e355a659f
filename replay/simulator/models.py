"""Simulated models of known quality, cost and speed: ground truth for the demo and the tests.

A :class:`SimulatedModel` answers three families of task whose right answer can be computed from the
prompt — arithmetic ("What is 17 * 23?"), extraction (a tool call with a customer's name, email and
total) and support questions about a small built-in FAQ — correctly with probability `quality`, and
plausibly wrong otherwise. Whether an answer is right depends only on a hash of the model, the seed
and the request, so the same request to the same model always gets the same answer. Everything these
models say is simulated.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bakeoff.replay.simulator.answers import Answer, echo_answer, last_user_text, prompt_tokens, stable_id

FAQ: dict[str, dict[str, Any]] = {
    "password": {
        "keywords": ("password", "reset", "log in"),
        "answer": "Go to Settings > Security and choose Reset password; the link is valid for 24 hours.",
        "facts": ("Settings", "24 hours"),
    },
    "refund": {
        "keywords": ("refund", "money back", "return"),
        "answer": "You can get a full refund within 30 days of purchase from the Orders page.",
        "facts": ("30 days", "Orders"),
    },
    "shipping": {
        "keywords": ("shipping", "delivery", "ship"),
        "answer": "Standard shipping takes 5 business days; express takes 2.",
        "facts": ("5 business days", "express"),
    },
    "cancel": {
        "keywords": ("cancel", "subscription"),
        "answer": "Cancel any time under Billing > Plan; you keep access until the period ends.",
        "facts": ("Billing", "period ends"),
    },
    "email": {
        "keywords": ("email address", "change the email", "e-mail"),
        "answer": "Change your email under Settings > Profile and confirm it from the new inbox.",
        "facts": ("Profile", "confirm"),
    },
}
_WRONG_FACTS = {
    "24 hours": "7 days",
    "30 days": "90 days",
    "5 business days": "10 business days",
    "Billing": "Support",
    "Profile": "Security",
    "Settings": "Help",
    "Orders": "Cart",
    "express": "overnight",
    "period ends": "end of the day",
    "confirm": "ignore",
}
_ARITHMETIC = re.compile(r"(-?\d+(?:\.\d+)?)\s*([+\-*/x\u00d7])\s*(-?\d+(?:\.\d+)?)")
_OPERATORS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "x": operator.mul,
    "\u00d7": operator.mul,  # the multiplication sign
    "/": operator.truediv,
}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_TOTAL = re.compile(r"(\d+\.\d{2})")
_NAME = re.compile(r"(?:I'm|I am|from)\s+([A-Z][a-z]+ [A-Z][a-z]+)")


@dataclass(frozen=True)
class SimulatedModel:
    """A model's simulated quality (overall or per task family), speed and price."""

    name: str
    quality: float | dict[str, float] = 0.9
    latency_ms: float = 400.0
    tokens_per_s: float = 80.0
    input_per_mtok: float = 0.5
    output_per_mtok: float = 1.5
    simulated: bool = field(default=True, init=False)

    def quality_for(self, family: str) -> float:
        if isinstance(self.quality, dict):
            return float(self.quality.get(family, self.quality.get("default", 0.9)))
        return float(self.quality)


DEFAULT_MODELS = (
    SimulatedModel(
        "sim-prod-large",
        quality=0.90,
        latency_ms=900,
        tokens_per_s=60,
        input_per_mtok=2.5,
        output_per_mtok=10.0,
    ),
    SimulatedModel(
        "sim-medium", quality=0.89, latency_ms=500, tokens_per_s=110, input_per_mtok=0.4, output_per_mtok=1.6
    ),
    SimulatedModel(
        "sim-small-fast",
        quality=0.70,
        latency_ms=250,
        tokens_per_s=200,
        input_per_mtok=0.1,
        output_per_mtok=0.4,
    ),
    SimulatedModel(
        "sim-premium",
        quality=0.96,
        latency_ms=1500,
        tokens_per_s=40,
        input_per_mtok=5.0,
        output_per_mtok=20.0,
    ),
)


def _uniform(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts`."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def arithmetic_truth(text: str) -> float | None:
    """The value of the first `a op b` in the text, or None."""
    match = _ARITHMETIC.search(text)
    if match is None:
        return None
    left, op, right = float(match.group(1)), match.group(2), float(match.group(3))
    if op == "/" and right == 0:
        return None
    return _OPERATORS[op](left, right)


def extraction_truth(text: str) -> dict[str, Any] | None:
    """The name, email and total an order message states, or None when it states no email."""
    email = _EMAIL.search(text)
    if email is None:
        return None
    name = _NAME.search(text)
    total = _TOTAL.search(text)
    return {
        "name": name.group(1) if name else None,
        "email": email.group(0),
        "total": float(total.group(1)) if total else None,
    }


def faq_topic(text: str) -> str | None:
    """The FAQ topic a support question is about, or None."""
    lowered = text.lower()
    return next((topic for topic, entry in FAQ.items() if any(k in lowered for k in entry["keywords"])), None)


def family_of(request: dict[str, Any], api: str) -> str:
    text = last_user_text(request, api)
    if request.get("tools") and extraction_truth(text) is not None:
        return "extraction"
    if arithmetic_truth(text) is not None:
        return "arithmetic"
    if faq_topic(text) is not None:
        return "support"
    return "other"


def _answer_text(family: str, text: str, right: bool, wobble: float) -> str:
    if family == "arithmetic":
        value = arithmetic_truth(text) or 0.0
        if not right:
            value += 1 + int(wobble * 9)  # off by a little, as models are
        return f"The answer is {_number(value)}."
    if family == "support":
        answer = FAQ[faq_topic(text) or "password"]["answer"]
        if not right:
            facts = FAQ[faq_topic(text) or "password"]["facts"]
            fact = facts[int(wobble * len(facts))]
            answer = answer.replace(fact, _WRONG_FACTS.get(fact, "somewhere"))
        return answer
    return f"Here is what I can say about that: {text[:200]}"


def _extraction_call(
    model: str, text: str, tool: dict[str, Any], right: bool, wobble: float
) -> dict[str, Any]:
    arguments = dict(extraction_truth(text) or {})
    if not right:
        field_name = ("name", "email", "total")[int(wobble * 3)]
        arguments[field_name] = (
            None if field_name != "total" else round((arguments.get("total") or 0) + 10, 2)
        )
    name = tool.get("name") or (tool.get("function") or {}).get("name") or "tool"
    return {"id": "call_" + stable_id(model, text), "name": name, "arguments": arguments}


def answer(model: SimulatedModel, request: dict[str, Any], api: str, seed: int = 0) -> Answer:
    """The model's deterministic answer to a request (latency included, not waited)."""
    text = last_user_text(request, api)
    family = family_of(request, api)
    key = (model.name, str(seed), api, text, str(sorted(str(t) for t in request.get("tools") or [])))
    right = _uniform(*key, "right") < model.quality_for(family)
    wobble = _uniform(*key, "wobble")
    input_tokens = prompt_tokens(request)
    if family == "extraction":
        call = _extraction_call(model.name, text, request["tools"][0], right, wobble)
        output_tokens, result = 30, Answer(None, [call], "tool_calls")
    else:
        reply = _answer_text(family, text, right, wobble)
        output_tokens = max(1, int(len(reply.split()) * 1.3))
        result = Answer(reply, [], "stop")
    result.input_tokens, result.output_tokens = input_tokens, output_tokens
    jitter = 0.8 + 0.4 * _uniform(*key, "latency")
    result.latency_ms = (model.latency_ms + 1000 * output_tokens / model.tokens_per_s) * jitter
    return result


def responder(models: tuple[SimulatedModel, ...] = DEFAULT_MODELS, seed: int = 0) -> Callable[..., Answer]:
    """A SimulatorServer responder: catalogue models answer by quality, any other model name echoes."""
    by_name = {m.name: m for m in models}

    def respond(model: str, request: dict[str, Any], api: str) -> Answer:
        simulated = by_name.get(model)
        if simulated is None:
            return echo_answer(model, request, api)
        return answer(simulated, request, api, seed)

    return respond


def correct(completion: Any, case: Any) -> bool | None:
    """Simulated ground truth, as a user metric (`bakeoff.replay.simulator.models:correct`).

    Whether an answer to one of the simulated task families is right, computed from the prompt: the
    arithmetic's value, the order's name/email/total in the tool call, the FAQ answer's facts. None for
    prompts of no known family. Only meaningful for the simulated models.
    """
    from bakeoff.replay.scoring.builtin import last_number, tool_calls_of

    if completion.error is not None:
        return False
    text = last_user_text(case.request, case.api)
    family = family_of(case.request, case.api)
    if family == "arithmetic":
        truth = arithmetic_truth(text)
        got = last_number(completion.text or "")
        return truth is not None and got is not None and abs(got - truth) < 1e-6
    if family == "extraction":
        calls = tool_calls_of(completion.tool_calls)
        return (
            bool(calls) and isinstance(calls[0][1], dict) and _same_order(calls[0][1], extraction_truth(text))
        )
    if family == "support":
        facts = FAQ[faq_topic(text) or "password"]["facts"]
        return all(fact in (completion.text or "") for fact in facts)
    return None


def _same_order(arguments: dict[str, Any], truth: dict[str, Any] | None) -> bool:
    if truth is None:
        return False
    total = arguments.get("total")
    return (
        arguments.get("name") == truth["name"]
        and arguments.get("email") == truth["email"]
        and isinstance(total, int | float)
        and abs(float(total) - float(truth["total"] or 0)) < 0.005
    )
