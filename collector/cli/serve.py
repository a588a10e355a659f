"""`bakeoff serve`: run the collector under uvicorn."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys

from bakeoff.collector.cli.common import add_store_flags, store_target
from bakeoff.collector.settings import DEFAULT_LAKE_JOURNAL, StoreTarget
from bakeoff.errors import UsageError

SWITCH_INTERVAL_S = 0.0005  # measured: 10-20% more events/s than the default under sustained ingest


def _show_collector_logs(level: str) -> None:
    """The collector's own messages (journal recovery, retention) on stderr, next to uvicorn's.

    The `bakeoff` logger carries a NullHandler, as a library's should, so without a handler here they
    would go nowhere.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))  # uvicorn's layout
    collector_logger = logging.getLogger("bakeoff.collector")
    collector_logger.addHandler(handler)
    collector_logger.setLevel(level.upper())


def _check_database_free(path: str) -> None:
    """One line, not the server's traceback, when another process (a collector) holds the file."""
    import duckdb

    try:
        duckdb.connect(path).close()
    except duckdb.IOException as exc:
        holder = "another process"
        if "PID" in str(exc):
            holder = "process " + str(exc).split("PID", 1)[1].split(")", 1)[0].strip()
        raise UsageError(f"--db {path}: in use by {holder} (is a collector running on it?)") from exc
    except duckdb.Error as exc:
        raise UsageError(f"--db {path}: cannot open it: {str(exc).splitlines()[0]}") from exc


def _check_catalog(target: StoreTarget) -> None:
    """One line, not the server's traceback, when the DuckLake's PostgreSQL cannot be reached."""
    from bakeoff.collector.ducklake import CatalogError, connect_catalog

    try:
        connect_catalog(str(target.catalog)).close()
    except CatalogError as exc:
        raise UsageError(str(exc)) from None


def _check_data_path(target: StoreTarget) -> None:
    """One line when an object-store data path cannot be listed (no bucket, refused credentials)."""
    from bakeoff.collector import object_store

    if target.data_path and object_store.is_object_store(target.data_path):
        try:
            object_store.check_reachable(target.data_path)
        except object_store.DataPathError as exc:
            raise UsageError(str(exc)) from None


def _hold_journal(target: StoreTarget) -> None:
    """One line when another collector runs on this replica's journal (each replica needs its own)."""
    from bakeoff.collector.journal import JournalInUse, hold_replica

    try:
        hold_replica(target.journal_dir or DEFAULT_LAKE_JOURNAL).release()
    except JournalInUse as exc:
        raise UsageError(f"--journal: {exc}; give each collector its own --journal DIR") from None
    except OSError as exc:
        raise UsageError(f"--journal {target.journal_dir}: {exc.strerror}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH", help="DuckDB file (created if missing; default ./bakeoff.duckdb)"
    )
    add_store_flags(parser)
    parser.add_argument(
        "--journal",
        metavar="DIR",
        help="the ingest journal: acknowledged events not committed yet (default <db>.journal; "
        "with --store ducklake ./bakeoff.journal: each collector needs its own)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7800, help="port to listen on (default 7800)")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' on /v1 (repeatable)",
    )
    parser.add_argument("--api-key-file", metavar="FILE", help="file of API keys, one per line")
    parser.add_argument("--retention-days", type=float, metavar="DAYS", help="delete events older than this")
    parser.add_argument(
        "--memory-limit", default="512MB", help="DuckDB memory limit, e.g. 1GB (default 512MB)"
    )
    parser.add_argument(
        "--monitors", metavar="FILE", help="run the traffic monitors of this config (its `monitors:`)"
    )
    parser.add_argument(
        "--monitor-interval", type=float, default=30.0, metavar="SECONDS", help="seconds between ticks"
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from bakeoff.collector.app import create_app
    from bakeoff.collector.settings import CollectorSettings, read_api_keys

    target = store_target(args, journal_dir=args.journal)
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be in 1..65535, got {args.port}")
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", args.memory_limit, re.IGNORECASE):
        raise UsageError(f"--memory-limit must look like 512MB or 2GB, got {args.memory_limit!r}")
    if args.retention_days is not None and args.retention_days <= 0:
        raise UsageError(f"--retention-days must be positive, got {args.retention_days}")
    if target.kind == "embedded":
        directory = os.path.dirname(os.path.abspath(target.db_path))
        if not os.path.isdir(directory):
            raise UsageError(f"--db: folder {directory} does not exist")
    try:
        keys = read_api_keys(args.api_key, args.api_key_file)
    except OSError as exc:
        raise UsageError(f"--api-key-file: {exc.strerror}: {args.api_key_file}") from exc
    if args.monitor_interval <= 0:
        raise UsageError(f"--monitor-interval must be positive, got {args.monitor_interval}")
    monitors = None
    if args.monitors:
        from bakeoff.monitor_config import load_monitoring

        monitors = load_monitoring(args.monitors)
    settings = CollectorSettings(
        db_path=target.db_path,
        store=target.kind,
        catalog=target.catalog,
        data_path=target.data_path,
        journal_dir=target.journal_dir,
        host=args.host,
        port=args.port,
        api_keys=keys,
        retention_days=args.retention_days,
        memory_limit=args.memory_limit,
        monitors=monitors,
        monitor_interval_s=args.monitor_interval,
    )
    if target.kind == "ducklake":
        _check_catalog(target)
        _check_data_path(target)
        _hold_journal(target)
        print(f"bakeoff collector on http://{args.host}:{args.port} ({target.where})", flush=True)
    else:
        _check_database_free(target.db_path)
        print(f"bakeoff collector on http://{args.host}:{args.port} (db: {target.db_path})", flush=True)
    _show_collector_logs(args.log_level)
    # The writer thread hands the GIL to DuckDB and takes it back a dozen times per commit; while the
    # request thread is busy, each take-back waits up to the switch interval (5 ms by default).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    uvicorn.run(
        create_app(settings), host=args.host, port=args.port, log_level=args.log_level, access_log=False
    )
    return 0
