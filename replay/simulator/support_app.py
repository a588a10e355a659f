"""A small support assistant instrumented with bakeoff: one `bakeoff.init()` and a few tags.

It answers customer questions (OpenAI chat, some streamed), extracts order details with a tool
(Anthropic messages), does arithmetic for invoices, and records the user's thumbs up or down as
feedback. Point it at real providers with the usual OPENAI_* / ANTHROPIC_* settings, or at any
OpenAI/Anthropic-compatible server with --openai-base-url / --anthropic-base-url.

Run it as is (`python app.py`), or unchanged without the `bakeoff.init()` line through
`bakeoff run -- python app.py`. It ships inside the package (`bakeoff.replay.simulator.support_app`), so
`bakeoff demo` drives it wherever bakeoff is installed; `examples/instrumented_app/app.py` is this file.
"""

from __future__ import annotations

import argparse
import contextlib
import random
from collections.abc import Iterator

import anthropic
import openai
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionMessageParam

import bakeoff

QUESTIONS = [
    "How do I reset my password?",
    "What is your refund policy?",
    "How long does shipping take to Canada?",
    "How do I cancel my subscription?",
    "Can I change the email address on my account?",
]
OPENERS = ["", "Hi! ", "Hello team, ", "Quick question: ", "Good morning. "]
NAMES = ["Dana Reyes", "Sam Ortiz", "Alex Kim", "Priya Shah", "Jon Berg", "Mia Rossi", "Lee Chen"]
ITEMS = ["lamps", "chairs", "mugs", "desks", "rugs"]
TOOL: ToolParam = {
    "name": "record_order",
    "description": "Record an order's details",
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "total": {"type": "number"}},
    },
}


def customer_question(rng: random.Random) -> str:
    """A support question as customers write them: the same few topics, worded many ways."""
    return f"{rng.choice(OPENERS)}{rng.choice(QUESTIONS)} (ticket {rng.randint(1000, 9999)})"


def order_message(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    email = name.split()[0].lower() + f"{rng.randint(1, 99)}@example.com"
    total = f"{rng.randint(10, 900)}.{rng.randint(0, 99):02d}"
    order = f"order {rng.randint(1000, 9999)} for {rng.randint(1, 6)} {rng.choice(ITEMS)}"
    return f"Hi, I'm {name} ({email}), {order}, {total} in total."


def answer_questions(client: openai.OpenAI, model: str, rng: random.Random, count: int) -> None:
    for i in range(count):
        question = customer_question(rng)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": "You are a concise support agent."},
            {"role": "user", "content": question},
        ]
        with bakeoff.tag("support", channel="chat"), handled():
            if i % 3 == 0:  # the chat widget streams its answers
                for _ in client.chat.completions.create(
                    model=model, messages=messages, stream=True, stream_options={"include_usage": True}
                ):
                    pass
            else:
                client.chat.completions.create(model=model, messages=messages, temperature=0)
        event_id = bakeoff.last_event_id()
        if event_id and rng.random() < 0.4:  # some users click thumbs up or down
            bakeoff.feedback(event_id, 1.0 if rng.random() < 0.7 else 0.0)


def extract_orders(client: anthropic.Anthropic, model: str, rng: random.Random, count: int) -> None:
    for _ in range(count):
        with bakeoff.tag("extraction"), handled():
            client.messages.create(
                model=model,
                max_tokens=300,
                tools=[TOOL],
                messages=[{"role": "user", "content": order_message(rng)}],
            )


def invoice_arithmetic(client: openai.OpenAI, model: str, rng: random.Random, count: int) -> None:
    for _ in range(count):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        with bakeoff.tag("math"), handled():
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"What is {a} * {b}?"}], temperature=0
            )


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """A provider's failure becomes an apology to the user; the app keeps serving (bakeoff records it)."""
    try:
        yield
    except (openai.APIError, anthropic.APIError) as exc:
        print(f"  provider error, apologised to the user: {type(exc).__name__}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openai-base-url")
    parser.add_argument("--anthropic-base-url")
    parser.add_argument("--openai-model", default="gpt-4o-mini")
    parser.add_argument("--anthropic-model", default="claude-haiku-4-5")
    parser.add_argument("--calls", type=int, default=30, help="support questions to answer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-retries", type=int, default=2, help="the clients' own retries")
    args = parser.parse_args(argv)

    bakeoff.init(project="support-assistant")  # collector and options from BAKEOFF_* variables
    rng = random.Random(args.seed)
    with (
        openai.OpenAI(base_url=args.openai_base_url, max_retries=args.max_retries) as chat,
        anthropic.Anthropic(base_url=args.anthropic_base_url, max_retries=args.max_retries) as claude,
    ):
        answer_questions(chat, args.openai_model, rng, args.calls)
        extract_orders(claude, args.anthropic_model, rng, max(1, args.calls // 3))
        invoice_arithmetic(chat, args.openai_model, rng, max(1, args.calls // 3))
    bakeoff.flush()


if __name__ == "__main__":
    main()
