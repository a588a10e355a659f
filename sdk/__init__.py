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
    With `BAKEOFF_DISABLED=1` (or, when that is unset, `OTEL_SDK_DISABLED=true`) nothing is patched;
    `OTEL_SERVICE_NAME` is the default project, and
    `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false` turns content off unless
    `BAKEOFF_CAPTURE_CONTENT` says otherwise.
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
    from bakeoff.schema import utc_timestamp

    sink = instrument.state.sink
    if sink is None:
        return
    with internal_errors("recording feedback"):
        sink.submit_feedback(
            {
                "event_id": str(event_id),
                "score": float(score),
                "comment": comment,
                "ts": utc_timestamp(),
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
    """What became of the events (and feedback) recorded so far; empty before `init()`.

    Counts of items, since `init()`:

    - `recorded`: handed to shipping; `queued`: waiting in memory now; `spool_pending`: on disk now.
    - `sent`: acknowledged by the collector, of which `accepted` were new and `duplicates` stored already.
    - `spooled`: written to the disk spool because they could not be sent then (most are sent later);
      `retries`: requests that failed in a retryable way (no answer, 408, 429, 5xx, 507, 401/403/404);
      `splits`: batches halved and sent again (answered 413, or refused whole without per-item reasons).
    - `coerced`: made encodable (integers past 64 bits sent as decimal strings, keys as strings).
    - `filtered`: dropped by the `redact` callable, as asked.
    - Lost for good, each counted once and logged at most once a minute per reason: `rejected` (refused
      by the collector as invalid; by reason in `rejected_reasons`), `dropped_build` (building the event
      or redaction raised), `dropped_encode` (not JSON-encodable: a cycle, nesting past 200 levels),
      `dropped_too_large` (one event over the collector's body limit), `queue_dropped` (the in-memory
      queue was full), `spool_dropped` (pushed out of the full spool, or the spool not writable);
      `undelivered` is their sum.

    `last_error` is the collector's last refusal or the last connection error, or None.
    Once everything is flushed, `recorded == sent + filtered + undelivered`.
    """
    from bakeoff import instrument

    get_stats = getattr(instrument.state.sink, "stats", None)
    return dict(get_stats()) if get_stats is not None else {}
