"""Where a run's rows come from: a JSON-lines file, or a dataset by name (collector or DuckDB file)."""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bakeoff.dataset_format import parse_json_lines
from bakeoff.errors import UsageError
from bakeoff.replay.config import ReplayConfig

DEFAULT_COLLECTOR = "http://127.0.0.1:7800"


def _looks_like_file(dataset: str) -> bool:
    return dataset.endswith((".jsonl", ".json", ".ndjson")) or os.sep in dataset or Path(dataset).is_file()


def load_dataset_rows(dataset: str, config: ReplayConfig, api_key: str | None = None) -> list[dict[str, Any]]:
    """The rows of `dataset`: a file path, else a dataset name in the config's `db:` or `collector:`."""
    if _looks_like_file(dataset):
        path = Path(dataset)
        if not path.is_file():
            raise UsageError(f"--dataset {dataset}: no such file")
        return parse_json_lines(path.read_bytes(), dataset)
    if config.db:
        return _from_db(config.db, dataset)
    return _from_collector(config.collector or DEFAULT_COLLECTOR, dataset, api_key)


def _from_db(db: str, name: str) -> list[dict[str, Any]]:
    from bakeoff.collector.cli.common import open_store
    from bakeoff.collector.datasets import export_lines

    store = open_store(db)
    try:
        lines = export_lines(store, name)
        if lines is None:
            raise UsageError(f"--dataset {name}: no such dataset in {db}")
        return parse_json_lines(b"".join(lines), f"{db}:{name}")
    finally:
        store.close()


def _from_collector(url: str, name: str, api_key: str | None) -> list[dict[str, Any]]:
    address = f"{url.rstrip('/')}/v1/datasets/{urllib.parse.quote(name, safe='')}"
    headers = {}
    key = api_key or os.environ.get("BAKEOFF_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        with urllib.request.urlopen(
            urllib.request.Request(address, headers=headers), timeout=120
        ) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise UsageError(f"--dataset {name}: the collector at {url} has no such dataset") from exc
        raise UsageError(f"--dataset {name}: the collector answered {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise UsageError(f"cannot reach the collector at {url}: {exc.reason}") from exc
    return parse_json_lines(data, f"{url} dataset {name}")
