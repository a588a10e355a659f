"""Settings of a collector: where the data lives, where it listens, who may talk to it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bakeoff.monitor_config import MonitoringConfig


@dataclass(frozen=True)
class CollectorSettings:
    """Everything `create_app` needs; built from `bakeoff serve` flags (or directly, in tests)."""

    db_path: str = "./bakeoff.duckdb"
    host: str = "127.0.0.1"
    port: int = 7800
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024  # compressed or not, and after decompression
    max_batch_events: int = 10_000
    retention_days: float | None = None
    retention_interval_s: float = 3600.0
    # Rows in one DuckDB commit at most, and acknowledged rows waiting for one at most (see ingest.py).
    commit_max_rows: int = 20_000
    storage_retry_s: float = 1.0  # while commits fail (a full disk), how often they are retried
    memory_limit: str = "512MB"  # DuckDB's buffer pool: bounds the collector's memory as the file grows
    monitors: MonitoringConfig | None = None  # `bakeoff serve --monitors FILE`, run on their own thread
    monitor_interval_s: float = 30.0
    extra: dict[str, str] = field(default_factory=dict)


def read_api_keys(
    keys: list[str], key_file: str | None, environ: dict[str, str] | None = None
) -> tuple[str, ...]:
    """API keys from flags, a file (one per line) and BAKEOFF_COLLECTOR_API_KEYS (comma-separated)."""
    env = os.environ if environ is None else environ
    collected = [k.strip() for k in keys if k.strip()]
    if key_file:
        collected += [line.strip() for line in Path(key_file).read_text().splitlines() if line.strip()]
    collected += [k.strip() for k in env.get("BAKEOFF_COLLECTOR_API_KEYS", "").split(",") if k.strip()]
    return tuple(dict.fromkeys(collected))
