"""Which store the collector's tests run on: the embedded DuckDB file, or DuckLake.

`tests/collector/conftest.py` runs every test there twice (`[embedded]` and `[ducklake]`), but those
marked `embedded_only` (each with its reason). While a DuckLake run is active, a test's DuckDB file path
stands for a DuckLake of its own (a fresh catalog database on the session's PostgreSQL and a data path),
the same one each time the path is used: :func:`serve_args` gives the `bakeoff serve` flags for it
(`support.collector.CollectorProcess` uses them) and :func:`open_test_store` opens it in the test.
"""

from __future__ import annotations

from pathlib import Path

from bakeoff.collector.settings import StoreTarget
from bakeoff.collector.store import Store
from support.postgres import Cluster, DuckLakeTarget, new_target

_active: tuple[Cluster, Path] | None = None  # the cluster, and where the data paths go
_lakes: dict[str, DuckLakeTarget] = {}


def activate(cluster: Cluster, folder: Path) -> None:
    """From now on, DuckDB file paths stand for DuckLakes on `cluster` (data paths under `folder`)."""
    global _active
    _active = (cluster, folder)


def deactivate() -> None:
    """Back to DuckDB files."""
    global _active
    _active = None
    _lakes.clear()


def kind() -> str:
    """ "ducklake" while a DuckLake run is active, else "embedded"."""
    return "embedded" if _active is None else "ducklake"


def lake_for(db: Path | str) -> DuckLakeTarget:
    """The DuckLake that stands for the DuckDB file `db` in this run (made on first use)."""
    assert _active is not None, "no DuckLake run is active"
    key = str(Path(db).resolve())
    if key not in _lakes:
        _lakes[key] = new_target(*_active)
    return _lakes[key]


def serve_args(db: Path | str) -> list[str]:
    """The flags that point `bakeoff serve` at the store standing for `db` (its journal `<db>.journal`)."""
    if _active is None:
        return ["--db", str(db)]
    return [*lake_for(db).args(), "--journal", f"{db}.journal"]


def cli_args(db: Path | str) -> list[str]:
    """The flags that point `bakeoff sample` or `bakeoff dataset` at the store standing for `db`."""
    return ["--db", str(db)] if _active is None else lake_for(db).args()


def target_for(db: Path | str) -> StoreTarget:
    """The :class:`StoreTarget` standing for `db` in this run (journal `<db>.journal`)."""
    if _active is None:
        return StoreTarget(db_path=str(db))
    lake = lake_for(db)
    return StoreTarget(
        "ducklake", catalog=lake.catalog, data_path=str(lake.data_path), journal_dir=f"{db}.journal"
    )


def open_test_store(db: Path | str) -> Store:
    """The store standing for `db` in this run, opened in the test (with its journal folder)."""
    return target_for(db).open()
