"""The `simulated` provider: in-process models of known quality, speed and price (no network).

Its latency is waited (scaled by `latency_scale`, so tests and the demo can run fast) and reported as
simulated. Model names not in the catalogue echo the prompt.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bakeoff.replay.providers.config import ProviderConfig
from bakeoff.replay.providers.translate import from_canonical
from bakeoff.replay.simulator.answers import echo_answer
from bakeoff.replay.simulator.models import DEFAULT_MODELS, SimulatedModel, answer
from bakeoff.replay.types import Completion

CATALOGUE = {m.name: m for m in DEFAULT_MODELS}


class SimulatedProvider:
    """A provider answering from :mod:`bakeoff.replay.simulator.models`."""

    def __init__(self, config: ProviderConfig, models: dict[str, SimulatedModel] | None = None) -> None:
        self.id = config.id
        self.config = config
        self.model = (models or CATALOGUE).get(config.model)

    async def acomplete(
        self, canonical: dict[str, Any], *, stream: bool | None = None, timeout: float | None = None
    ) -> Completion:
        request, _ = from_canonical("chat.completions", {**canonical, "model": self.config.model})
        request.update(self.config.params)
        if self.model is not None:
            result = answer(self.model, request, "chat.completions")
        else:
            result = echo_answer(self.config.model, request, "chat.completions")
        await asyncio.sleep(result.latency_ms * self.config.latency_scale / 1000)
        calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": _json(c["arguments"])},
            }
            for c in result.tool_calls
        ]
        return Completion(
            text=result.text,
            tool_calls=calls or None,
            finish_reason=result.finish_reason,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            latency_ms=result.latency_ms,
            ttft_ms=result.latency_ms * 0.3,
            raw={"simulated": True},
        )

    async def aembed(
        self, texts: list[str], timeout: float | None = None
    ) -> tuple[list[list[float]], int | None]:
        """Simulated embeddings: a hash of each text (equal texts are identical, others unrelated)."""
        from bakeoff.replay.simulator.server import embedding_of

        return [embedding_of(text, 64) for text in texts], sum(len(text.split()) for text in texts)

    async def aclose(self) -> None:
        return None


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
