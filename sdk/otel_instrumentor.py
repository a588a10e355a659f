"""bakeoff as an OpenTelemetry instrumentor: `opentelemetry-instrument python app.py` records events.

Registered under the `opentelemetry_instrumentor` entry point group as `bakeoff`, so OpenTelemetry's
auto-instrumentation loads it next to the other instrumentations; it is configured by the same
`BAKEOFF_*` and `OTEL_*` variables as `bakeoff run`. Importing this module needs
`opentelemetry-instrumentation` (which `opentelemetry-instrument` comes from); `import bakeoff` does not.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

import bakeoff


class BakeoffInstrumentor(BaseInstrumentor):
    """Instruments the installed `openai` and `anthropic` clients, as `bakeoff.init()` does."""

    def instrumentation_dependencies(self) -> Collection[str]:
        # Each client is patched if and when it is imported: none is required.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        bakeoff.init()

    def _uninstrument(self, **kwargs: Any) -> None:
        bakeoff.uninstrument()
