"""How long a provider asks us to wait before trying again, from its response headers.

In order of precedence: `retry-after-ms` (OpenAI; milliseconds), `retry-after` (RFC 9110: seconds, or
an HTTP-date), then the rate-limit reset headers — OpenAI's `x-ratelimit-reset-requests` / `-tokens`
(Go-style durations such as "1s", "6m0s", "250ms") and Anthropic's `anthropic-ratelimit-*-reset`
(RFC 3339 instants). Of the reset headers, those of an exhausted limit (`remaining` 0) count when
the provider says which; the longest wins, since every exhausted limit must have reset.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_OPENAI_LIMITS = ("requests", "tokens")
_ANTHROPIC_LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")


def retry_delay(headers: dict[str, str], now: float | None = None) -> float | None:
    """Seconds to wait (never negative), or None when the headers say nothing usable.

    `headers` have lower-case names; `now` is the current Unix time (for dates and instants).
    """
    clock = time.time() if now is None else now
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if value is not None:
        seconds = _number(value)
        if seconds is not None:
            return seconds
        instant = _http_date(value)
        if instant is not None:
            return max(0.0, instant - clock)
    resets = [
        *_resets(headers, "x-ratelimit-reset-{}", "x-ratelimit-remaining-{}", _OPENAI_LIMITS, _duration),
        *_resets(
            headers,
            "anthropic-ratelimit-{}-reset",
            "anthropic-ratelimit-{}-remaining",
            _ANTHROPIC_LIMITS,
            lambda text: _instant(text, clock),
        ),
    ]
    return max(resets) if resets else None


def _resets(
    headers: dict[str, str],
    reset: str,
    remaining: str,
    limits: tuple[str, ...],
    parse: Callable[[str], float | None],
) -> list[float]:
    """The waits of the limits' reset headers: of the exhausted limits when any is, else of them all."""
    found = {}
    for limit in limits:
        seconds = parse(headers.get(reset.format(limit), ""))
        if seconds is not None:
            found[limit] = seconds
    exhausted = [s for limit, s in found.items() if headers.get(remaining.format(limit), "").strip() == "0"]
    return exhausted or list(found.values())


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _duration(text: str) -> float | None:
    """A Go duration ("1s", "6m0s", "1h2m3.5s", "250ms") in seconds."""
    text = text.strip()
    if not text:
        return None
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def _http_date(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _instant(text: str, now: float) -> float | None:
    """Seconds from `now` until an RFC 3339 instant (0 when it has passed)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now)
