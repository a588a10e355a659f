"""Settings of a collector: where the data lives, where it listens, who may talk to it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bakeoff.monitor_config import MonitoringConfig

if TYPE_CHECKING:
    from bakeoff.collector.store import Store


STORES = ("embedded", "ducklake")
DEFAULT_LAKE_JOURNAL = "./bakeoff.journal"


@dataclass(frozen=True)
class StoreTarget:
    """Which store to open: the embedded DuckDB file at `db_path` (the default), or the DuckLake of
    `catalog` (a `postgresql://` URL) and `data_path`.

    `journal_dir` is the ingest journal of a collector: by default `<db_path>.journal` for the file, and
    `./bakeoff.journal` (in the working directory) for a DuckLake replica, each of which needs its own.
    """

    kind: str = "embedded"
    db_path: str = "./bakeoff.duckdb"
    catalog: str | None = None
    data_path: str | None = None
    journal_dir: str | None = None

    @property
    def where(self) -> str:
        """The store, as messages name it."""
        return f"DuckLake {self.catalog}" if self.kind == "ducklake" else self.db_path

    def open(self, memory_limit: str = "512MB", journal: bool = True) -> Store:
        """Open the store; `journal=False` for a process that will not ingest (a command run once)."""
        if self.kind == "ducklake":
            from bakeoff.collector.ducklake import DuckLakeStore

            assert self.catalog is not None and self.data_path is not None
            journal_dir = (self.journal_dir or DEFAULT_LAKE_JOURNAL) if journal else self.journal_dir
            return DuckLakeStore(self.catalog, self.data_path, memory_limit, journal_dir)
        from bakeoff.collector.store import Store

        return Store(self.db_path, memory_limit, self.journal_dir)


@dataclass(frozen=True)
class CollectorSettings:
    """Everything `create_app` needs; built from `bakeoff serve` flags (or directly, in tests)."""

    db_path: str = "./bakeoff.duckdb"
    store: str = "embedded"  # or "ducklake": then `catalog` and `data_path` (see StoreTarget)
    catalog: str | None = None
    data_path: str | None = None
    journal_dir: str | None = None
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

    @property
    def target(self) -> StoreTarget:
        """The store these settings name."""
        return StoreTarget(self.store, self.db_path, self.catalog, self.data_path, self.journal_dir)


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
