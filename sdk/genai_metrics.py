"""OpenTelemetry GenAI client metrics: `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`.

Recorded only once the application sets a MeterProvider: until then the global one is a proxy that
would drop every measurement, so none is taken.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics
from opentelemetry.metrics import MeterProvider

from bakeoff.spans import operation_name

if TYPE_CHECKING:
    from bakeoff.recorder import Call

# The bucket boundaries the semantic conventions advise for these two histograms.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

_RECHECK_S = 1.0
_configured = {"value": False, "checked_at": -_RECHECK_S}


def global_meter_provider() -> MeterProvider:
    """The application's MeterProvider."""
    return metrics.get_meter_provider()


def metrics_configured() -> bool:
    """Whether the application set a MeterProvider (asked at most once a second until it has)."""
    if _configured["value"]:
        return True
    now = time.monotonic()
    if now - _configured["checked_at"] >= _RECHECK_S:
        _configured["checked_at"] = now
        # The default is a proxy class of OpenTelemetry's, private by name: compare by name, not import.
        _configured["value"] = type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"
    return bool(_configured["value"])


class GenAIMetrics:
    """The two GenAI client histograms of one MeterProvider."""

    def __init__(self, provider: MeterProvider) -> None:
        from bakeoff import __version__

        meter = provider.get_meter("bakeoff", __version__)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(_TOKEN_BUCKETS),
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )

    def record(
        self,
        call: Call,
        usage: dict[str, Any] | None,
        error: dict[str, Any] | None,
        latency_ms: float,
    ) -> None:
        """Measure one finished call."""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation_name(call.api),
            "gen_ai.provider.name": call.provider,
            "gen_ai.request.model": call.model,
        }
        response_model = call.attributes.get("response_model")
        if response_model:
            attributes["gen_ai.response.model"] = response_model
        if call.server is not None:
            attributes["server.address"], attributes["server.port"] = call.server
        if error is not None:
            attributes["error.type"] = str(error.get("type") or "_OTHER")
        self.duration.record(latency_ms / 1000, attributes)
        for kind, key in (("input", "input_tokens"), ("output", "output_tokens")):
            count = (usage or {}).get(key)
            if count is not None:
                self.tokens.record(count, {**attributes, "gen_ai.token.type": kind})
