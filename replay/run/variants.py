"""Sweeps and ablations: one configured provider expanded into variants of itself.

`--sweep temperature=0,0.5,1` makes one variant per value (the value overrides the recorded parameter
and the config's `params`). `--ablate system,examples,tools` makes one variant per part of the recorded
request to remove: the system prompt, the few-shot example turns before the last user message, the
tool definitions. A variant is a provider of its own in every result file, its id saying what changed:
`openai/gpt-4o-mini[temperature=0.5]`, `openai/gpt-4o-mini[-system]`. Under a sweep, the configured
baseline is also replayed as itself (its own variant, id unchanged), so `baseline:` still names a
provider of the run and every sweep value is compared with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bakeoff.errors import UsageError
from bakeoff.replay.errors import UntranslatableError
from bakeoff.replay.providers.config import ProviderConfig

ABLATIONS = ("system", "examples", "tools")


@dataclass(frozen=True)
class Variant:
    """A provider as replayed: its config (sweep values merged into `params`) and what is ablated."""

    config: ProviderConfig
    ablate: str | None = None

    @property
    def id(self) -> str:
        return self.config.id


def parse_sweep(text: str) -> tuple[str, list[float]]:
    """`temperature=0,0.5,1` -> ("temperature", [0.0, 0.5, 1.0]); a mistake is a UsageError."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise UsageError(f"--sweep {text!r}: expected PARAM=V1,V2,... (e.g. temperature=0,0.5,1)")
    try:
        numbers = [float(v) for v in values.split(",")]
    except ValueError:
        raise UsageError(f"--sweep {text!r}: values must be numbers") from None
    # Whole numbers stay integers: `max_tokens=256` must not be sent as 256.0.
    return name.strip(), [int(n) if n.is_integer() else n for n in numbers]


def parse_ablations(text: str) -> list[str]:
    """`system,tools` -> ["system", "tools"], each checked."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in ABLATIONS]
    if unknown or not parts:
        raise UsageError(f"--ablate {text!r}: choose from {', '.join(ABLATIONS)}")
    return parts


def _format(value: float) -> str:
    return f"{value:g}"


def expand(
    providers: Sequence[ProviderConfig],
    sweep: tuple[str, list[float]] | None,
    ablate: Sequence[str],
    baseline: str | None = None,
) -> list[Variant]:
    """Every variant to replay: each provider, or its sweep values, each with and without every ablation.

    With a sweep, the provider whose id is `baseline` is kept as itself besides its sweep values.
    """
    variants: list[Variant] = []
    for provider in providers:
        configs = [provider]
        if sweep is not None:
            name, values = sweep
            configs = [provider] if provider.id == baseline else []
            configs += [
                provider.model_copy(
                    update={
                        "id": f"{provider.id}[{name}={_format(v)}]",
                        "params": {**provider.params, name: v},
                    }
                )
                for v in values
            ]
        for config in configs:
            variants.append(Variant(config))
            for part in ablate:
                ablated = config.model_copy(update={"id": f"{config.id}[-{part}]"})
                variants.append(Variant(ablated, part))
    return variants


def ablated(canonical: dict[str, Any], part: str | None) -> dict[str, Any]:
    """The canonical request without `part`; raises UntranslatableError when it has no such part."""
    if part is None:
        return canonical
    messages: list[dict[str, Any]] = list(canonical.get("messages") or [])
    if part == "system":
        kept = [m for m in messages if m.get("role") not in ("system", "developer")]
        if len(kept) == len(messages):
            raise UntranslatableError("no system prompt to remove")
        return {**canonical, "messages": kept}
    if part == "examples":
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        examples = [
            i for i, m in enumerate(messages[:last_user]) if m.get("role") in ("user", "assistant", "tool")
        ]
        if not examples:
            raise UntranslatableError("no example turns before the last user message")
        dropped = set(examples)
        return {**canonical, "messages": [m for i, m in enumerate(messages) if i not in dropped]}
    if part == "tools":
        if not canonical.get("tools"):
            raise UntranslatableError("no tool definitions to remove")
        if any(m.get("tool_calls") or m.get("role") == "tool" for m in messages):
            raise UntranslatableError("the conversation already holds tool calls; tools cannot be removed")
        return {k: v for k, v in canonical.items() if k not in ("tools", "tool_choice")}
    raise UsageError(f"unknown ablation {part!r}")
