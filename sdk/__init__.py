"""bakeoff: record every LLM call of an application, then find out whether another model would do better.

    import bakeoff
    bakeoff.init()                      # or: bakeoff run -- python app.py
    with bakeoff.tag("support"):
        client.chat.completions.create(...)

Public API: :func:`init`, :func:`tag`, :func:`last_event_id`, :func:`feedback`, :func:`flush`,
:func:`shutdown`, plus :func:`uninstrument` and :func:`stats`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from bakeoff.config import Redactor, resolve_settings
from bakeoff.context import last_event_id, tag
from bakeoff.internal_errors import internal_errors
from bakeoff.shipping.base import Sink

__version__ = "0.1.0"
__all__ = ["feedback", "flush", "init", "last_event_id", "shutdown", "stats", "tag", "uninstrument"]


def init(
    collector_url: str | None = None,
    *,
    api_key: str | None = None,
    project: str | None = None,
    tags: Iterable[str] = (),
    sample_rate: float | None = None,
    capture_content: bool | None = None,
    redact: Redactor | None = None,
    spool_dir: str | None = None,
    sink: Sink | None = None,
    **settings: Any,
) -> None:
    """Record every call of the installed `openai` and `anthropic` clients; idempotent.

    Arguments win over the `BAKEOFF_*` environment variables. `redact` is applied to every event
    before it leaves the process (return None to drop the event). `sink` replaces the shipping to the
    collector (for tests and tools, e.g. :class:`bakeoff.shipping.base.InMemorySink`); further
    keyword arguments tune shipping (`batch_size`, `flush_interval_s`, `queue_size`, `spool_max_bytes`).
    With `BAKEOFF_DISABLED=1` nothing is patched.
    """
    from bakeoff import instrument

    if instrument.state.recorder is not None:
        return
    resolved = resolve_settings(
        collector_url,
        api_key=api_key,
        project=project,
        tags=tags,
        sample_rate=sample_rate,
        capture_content=capture_content,
        redact=redact,
        spool_dir=spool_dir,
        **settings,
    )
    if resolved.disabled:
        return
    if sink is None:
        from bakeoff.shipping.shipper import HttpShipper

        sink = HttpShipper(resolved)
    instrument.instrument(resolved, sink)


def feedback(event_id: str, score: float, comment: str | None = None) -> None:
    """Attach a user's score in [0, 1] to a recorded event; shipped like events.

    Raises:
        ValueError: a score outside [0, 1] (a mistake of the caller's, not a failure of ours).
    """
    if not 0.0 <= float(score) <= 1.0:
        raise ValueError(f"feedback score must be in [0, 1], got {score}")
    from bakeoff import instrument

    sink = instrument.state.sink
    if sink is None:
        return
    with internal_errors("recording feedback"):
        sink.submit_feedback(
            {
                "event_id": str(event_id),
                "score": float(score),
                "comment": comment,
                "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        )


def flush(timeout: float = 5.0) -> bool:
    """Deliver everything recorded so far; True when all of it reached the collector within `timeout`."""
    from bakeoff import instrument

    sink = instrument.state.sink
    if sink is None:
        return True
    result = False
    with internal_errors("flushing"):
        result = sink.flush(timeout)
    return result


def shutdown(timeout: float = 5.0) -> None:
    """Stop recording, flush within `timeout`, and release the shipping thread (also runs at exit)."""
    from bakeoff import instrument

    sink = instrument.state.sink
    instrument.uninstrument()
    instrument.state.sink = None
    if sink is not None:
        with internal_errors("shutting down"):
            sink.shutdown(timeout)


def uninstrument() -> None:
    """Restore the client libraries' original methods; recording stops, shipping goes on."""
    from bakeoff import instrument

    instrument.uninstrument()


def stats() -> dict[str, Any]:
    """Counters of the shipping pipeline (sent, spooled, dropped, ...); empty before `init()`."""
    from bakeoff import instrument

    get_stats = getattr(instrument.state.sink, "stats", None)
    return dict(get_stats()) if get_stats is not None else {}
