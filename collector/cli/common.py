"""What `bakeoff sample` and `bakeoff dataset` share: reaching a collector over HTTP or a DuckDB file."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

import orjson

from bakeoff.collector.local import open_store
from bakeoff.errors import UsageError

__all__ = ["add_target", "call_collector", "collector_url", "open_store"]


def add_target(parser: argparse.ArgumentParser) -> None:
    """`--collector URL | --db PATH` (and `--api-key`)."""
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--collector", metavar="URL", help="a running collector (default $BAKEOFF_COLLECTOR_URL)"
    )
    target.add_argument("--db", metavar="PATH", help="work on a DuckDB file directly (no collector running)")
    parser.add_argument("--api-key", metavar="KEY", help="the collector's API key (default $BAKEOFF_API_KEY)")


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
