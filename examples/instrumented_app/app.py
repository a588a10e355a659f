"""A small support assistant instrumented with bakeoff: one `bakeoff.init()` and a few tags.

It answers customer questions (OpenAI chat, some streamed), extracts order details with a tool
(Anthropic messages), does arithmetic for invoices, and records the user's thumbs up or down as
feedback. Point it at real providers with the usual OPENAI_* / ANTHROPIC_* settings, or at any
OpenAI/Anthropic-compatible server with --openai-base-url / --anthropic-base-url.

Run it as is (`python app.py`), or unchanged without the `bakeoff.init()` line through
`bakeoff run -- python app.py`.
"""

from __future__ import annotations

import argparse
import random

import anthropic
import openai

import bakeoff

QUESTIONS = [
    "How do I reset my password?",
    "What is your refund policy?",
    "How long does shipping take to Canada?",
    "How do I cancel my subscription?",
    "Can I change the email address on my account?",
]
ORDERS = [
    "Hi, I'm Dana Reyes (dana@example.com), order 1182 for 3 lamps, 129.90 in total.",
    "Order 2231 from Sam Ortiz, sam.o@example.org, two chairs, 240.00.",
]
TOOL = {
    "name": "record_order",
    "description": "Record an order's details",
    "input_schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "total": {"type": "number"}},
    },
}


def answer_questions(client: openai.OpenAI, model: str, rng: random.Random, count: int) -> None:
    for i in range(count):
        question = rng.choice(QUESTIONS)
        messages = [
            {"role": "system", "content": "You are a concise support agent."},
            {"role": "user", "content": question},
        ]
        with bakeoff.tag("support", channel="chat"):
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


def extract_orders(client: anthropic.Anthropic, model: str, count: int) -> None:
    for i in range(count):
        with bakeoff.tag("extraction"):
            client.messages.create(
                model=model,
                max_tokens=300,
                tools=[TOOL],
                messages=[{"role": "user", "content": ORDERS[i % len(ORDERS)]}],
            )


def invoice_arithmetic(client: openai.OpenAI, model: str, rng: random.Random, count: int) -> None:
    for _ in range(count):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        with bakeoff.tag("math"):
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": f"What is {a} * {b}?"}], temperature=0
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openai-base-url")
    parser.add_argument("--anthropic-base-url")
    parser.add_argument("--openai-model", default="gpt-4o-mini")
    parser.add_argument("--anthropic-model", default="claude-haiku-4-5")
    parser.add_argument("--calls", type=int, default=30, help="support questions to answer")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    bakeoff.init(project="support-assistant")  # collector and options from BAKEOFF_* variables
    rng = random.Random(args.seed)
    with (
        openai.OpenAI(base_url=args.openai_base_url) as chat,
        anthropic.Anthropic(base_url=args.anthropic_base_url) as claude,
    ):
        answer_questions(chat, args.openai_model, rng, args.calls)
        extract_orders(claude, args.anthropic_model, max(1, args.calls // 3))
        invoice_arithmetic(chat, args.openai_model, rng, max(1, args.calls // 3))
    bakeoff.flush()


if __name__ == "__main__":
    main()
