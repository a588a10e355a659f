"""What the collector's commands share: reaching a collector over HTTP, a DuckDB file or a DuckLake.

Every command that takes `--db PATH` takes `--store ducklake --catalog URL --data-path DIR` instead
(defaults from `BAKEOFF_STORE`, `BAKEOFF_CATALOG`, `BAKEOFF_DATA_PATH`): :func:`add_store_flags` adds
them and :func:`store_target` reads them back.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

import orjson

from bakeoff.collector import local
from bakeoff.collector.settings import STORES, StoreTarget
from bakeoff.errors import UsageError

__all__ = [
    "add_store_flags",
    "add_target",
    "call_collector",
    "collector_url",
    "open_store",
    "store_target",
    "uses_store",
]


def add_store_flags(parser: argparse.ArgumentParser) -> None:
    """`--store embedded|ducklake`, `--catalog URL`, `--data-path DIR` (the DuckLake's place)."""
    parser.add_argument(
        "--store",
        choices=STORES,
        default=os.environ.get("BAKEOFF_STORE") or "embedded",
        help="embedded: one DuckDB file (--db); ducklake: a DuckLake that collectors share "
        "(default $BAKEOFF_STORE, else embedded)",
    )
    parser.add_argument(
        "--catalog",
        metavar="URL",
        default=os.environ.get("BAKEOFF_CATALOG"),
        help="the DuckLake's catalog, postgresql://USER@HOST:PORT/DB (default $BAKEOFF_CATALOG)",
    )
    parser.add_argument(
        "--data-path",
        metavar="DIR",
        default=os.environ.get("BAKEOFF_DATA_PATH"),
        help="the DuckLake's data files: a folder all collectors share, or s3://BUCKET/PREFIX/ "
        "(credentials from the AWS_* variables; default $BAKEOFF_DATA_PATH)",
    )


def store_target(args: argparse.Namespace, journal_dir: str | None = None) -> StoreTarget:
    """The store the flags name (`--db`, default ./bakeoff.duckdb, or the DuckLake's three); a missing or
    malformed flag is a one-line UsageError."""
    if args.store not in STORES:  # from $BAKEOFF_STORE, which argparse does not check
        raise UsageError(f"--store must be one of {', '.join(STORES)}, got {args.store!r}")
    if args.store == "embedded":
        return StoreTarget(db_path=args.db or "./bakeoff.duckdb", journal_dir=journal_dir)
    from bakeoff.collector import object_store
    from bakeoff.collector.ducklake import CATALOG_FORM, CatalogError, conninfo

    if args.db:
        raise UsageError("--db names a DuckDB file: with --store ducklake give --catalog and --data-path")
    if not args.catalog:
        raise UsageError(f"--store ducklake needs --catalog {CATALOG_FORM} (or $BAKEOFF_CATALOG)")
    if not args.data_path:
        raise UsageError("--store ducklake needs --data-path DIR (or $BAKEOFF_DATA_PATH)")
    try:
        conninfo(args.catalog)
    except CatalogError as exc:
        raise UsageError(str(exc)) from None
    try:
        object_store.check_form(args.data_path)
    except object_store.DataPathError as exc:
        raise UsageError(str(exc)) from None
    if "://" not in args.data_path and not os.path.isdir(args.data_path):
        raise UsageError(f"--data-path {args.data_path}: no such folder")
    return StoreTarget("ducklake", catalog=args.catalog, data_path=args.data_path, journal_dir=journal_dir)


def add_target(parser: argparse.ArgumentParser) -> None:
    """`--collector URL | --db PATH | --store ducklake ...` (and `--api-key`)."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--collector", metavar="URL", help="a running collector (default $BAKEOFF_COLLECTOR_URL)"
    )
    target.add_argument("--db", metavar="PATH", help="work on a DuckDB file directly (no collector running)")
    add_store_flags(parser)
    parser.add_argument("--api-key", metavar="KEY", help="the collector's API key (default $BAKEOFF_API_KEY)")


def uses_store(args: argparse.Namespace) -> bool:
    """Whether the command works on a store in this process (`--db`, or `--store ducklake`) rather than
    through a collector over HTTP."""
    if args.store == "ducklake" and args.collector:
        raise UsageError("--collector and --store ducklake are exclusive: give one")
    return bool(args.db) or args.store == "ducklake"


def open_store(args: argparse.Namespace | str) -> Any:
    """The store the flags name (or the DuckDB file at a path), opened in this process."""
    if isinstance(args, str):
        return local.open_store(args)
    return local.open_store(store_target(args))


def collector_url(args: argparse.Namespace) -> str:
    return str(args.collector or os.environ.get("BAKEOFF_COLLECTOR_URL") or "http://127.0.0.1:7800").rstrip(
        "/"
    )


def call_collector(args: argparse.Namespace, method: str, path: str, body: Any = None) -> bytes:
    """One request to the collector; its 4xx reasons become one-line usage errors."""
    import urllib.error
    import urllib.request

    url = collector_url(args) + path
    headers = {"Content-Type": "application/json"}
    key = args.api_key or os.environ.get("BAKEOFF_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(orjson.JSONDecodeError):
            detail = orjson.loads(detail).get("error", detail)
        raise UsageError(f"collector answered {exc.code}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise UsageError(f"cannot reach the collector at {url}: {exc.reason}") from exc
