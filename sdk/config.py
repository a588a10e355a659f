"""SDK settings: `bakeoff.init()` arguments over `BAKEOFF_*` environment variables over defaults.

OpenTelemetry's variables count where bakeoff's are unset: `OTEL_SDK_DISABLED=true` disables it,
`OTEL_SERVICE_NAME` is the default project, and `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`
set to `false` (or `NO_CONTENT`) turns content capture off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_COLLECTOR_URL = "http://127.0.0.1:7800"

Scalar = str | int | float | bool | None

Redactor = Callable[[dict[str, Any]], dict[str, Any] | None]


def _env_bool(value: str) -> bool:
    return value.strip().lower() not in {"0", "false", "no", "off", ""}


# OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: a boolean in older instrumentations, a mode in newer.
_OTEL_NO_CONTENT = frozenset({"false", "0", "no", "off", "no_content"})


def _capture_content(env: Mapping[str, str]) -> bool:
    own = env.get("BAKEOFF_CAPTURE_CONTENT")
    if own is not None:
        return _env_bool(own)
    otel = env.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    return otel is None or otel.strip().lower() not in _OTEL_NO_CONTENT


def _disabled(env: Mapping[str, str]) -> bool:
    own = env.get("BAKEOFF_DISABLED")
    if own is not None:
        return _env_bool(own)
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _env_tags(value: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in value.split(",") if t.strip())


def _default_spool_dir() -> str:
    import platformdirs  # imported here: only the first init() pays for it

    return os.path.join(platformdirs.user_cache_dir("bakeoff"), "spool")


@dataclass(frozen=True)
class Settings:
    """Everything the SDK needs to know, resolved once at `init()`."""

    collector_url: str = DEFAULT_COLLECTOR_URL
    api_key: str | None = None
    project: str = "default"
    tags: tuple[str, ...] = ()
    sample_rate: float = 1.0
    capture_content: bool = True
    redact: Redactor | None = None
    spool_dir: str = field(default_factory=_default_spool_dir)
    disabled: bool = False
    # Shipping knobs: not in the public init() signature, but settable for tests and tuning.
    batch_size: int = 256
    batch_max_bytes: int = 4 * 1024 * 1024  # uncompressed JSON per request; the collector takes 32 MiB
    compress: bool | None = None  # gzip request bodies; None: unless the collector is on loopback
    flush_interval_s: float = 1.0
    queue_size: int = 10_000
    spool_max_bytes: int = 64 * 1024 * 1024
    request_timeout_s: float = 5.0


def resolve_settings(
    collector_url: str | None = None,
    *,
    api_key: str | None = None,
    project: str | None = None,
    tags: Iterable[str] = (),
    sample_rate: float | None = None,
    capture_content: bool | None = None,
    redact: Redactor | None = None,
    spool_dir: str | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Combine explicit arguments (which win) with `BAKEOFF_*` (then `OTEL_*`) environment variables.

    Raises:
        ValueError: a sample rate outside [0, 1], or an unknown override.
    """
    env = os.environ if environ is None else environ
    rate = sample_rate if sample_rate is not None else float(env.get("BAKEOFF_SAMPLE_RATE", "1.0"))
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sample_rate must be in [0, 1], got {rate}")
    tag_list = tuple(tags) or _env_tags(env.get("BAKEOFF_TAGS", ""))
    content = capture_content if capture_content is not None else _capture_content(env)
    unknown = set(overrides) - set(Settings.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {
        "collector_url": (collector_url or env.get("BAKEOFF_COLLECTOR_URL") or DEFAULT_COLLECTOR_URL).rstrip(
            "/"
        ),
        "api_key": api_key or env.get("BAKEOFF_API_KEY") or None,
        "project": project or env.get("BAKEOFF_PROJECT") or env.get("OTEL_SERVICE_NAME") or "default",
        "tags": tag_list,
        "sample_rate": rate,
        "capture_content": content,
        "redact": redact,
        "disabled": _disabled(env),
        **overrides,
    }
    if spool_dir is not None:
        values["spool_dir"] = spool_dir
    elif env.get("BAKEOFF_SPOOL_DIR"):
        values["spool_dir"] = env["BAKEOFF_SPOOL_DIR"]
    return Settings(**values)
