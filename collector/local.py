"""The collector's store opened in this process, without a server: the documented door for other parts.

`bakeoff replay`, `bakeoff watch` and the `--db PATH` commands read and write recorded data on a DuckDB file
through :func:`open_local`, never through the collector's internals or its command-line helpers::

    from bakeoff.collector import open_local

    with open_local("bakeoff.duckdb") as local:
        lines = local.dataset_lines("week47")

Opening replays the journal a stopped collector left (the events it acknowledged), so what a collector
acknowledged is visible here too. A file a running collector holds cannot be opened: the error says so.
A DuckLake (``open_local(StoreTarget("ducklake", catalog=URL, data_path=DIR))``) can be opened while
collectors run on it; a replica's journal is replayed by that replica when it starts again. Samples and
dataset exports wait, as the collectors' reads do, until what the running replicas acknowledged is
committed (see :mod:`bakeoff.collector.read_barrier`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bakeoff.collector.settings import StoreTarget
from bakeoff.errors import UsageError

if TYPE_CHECKING:
    from bakeoff.collector.monitors.records import MonitorRecords
    from bakeoff.monitor_config import MonitoringConfig


def open_store(where: str | StoreTarget) -> Any:
    """The raw :class:`~bakeoff.collector.store.Store` of a DuckDB file (a path) or of a
    :class:`~bakeoff.collector.settings.StoreTarget` (a DuckLake), its journal recovered."""
    import duckdb

    from bakeoff.collector.ducklake import CatalogError
    from bakeoff.collector.ingest import recover_journal
    from bakeoff.collector.journal import JournalInUse

    target = StoreTarget(db_path=where) if isinstance(where, str) else where
    try:
        store = target.open(journal=False)
    except duckdb.IOException as exc:
        if target.kind == "ducklake":
            raise UsageError(f"{target.where}: cannot open it: {str(exc).splitlines()[0]}") from exc
        raise UsageError(
            f"--db {target.db_path}: cannot open it ({exc}); is a collector using it? use --collector"
        ) from exc
    except CatalogError as exc:
        raise UsageError(str(exc)) from exc
    except JournalInUse as exc:
        raise UsageError(f"--journal: {exc}") from exc
    recover_journal(store)  # events a collector acknowledged before it stopped abruptly
    return store


class LocalCollector:
    """Datasets, samples and runs of one store (a DuckDB file, or a DuckLake); a context manager that
    closes it."""

    def __init__(self, where: str | StoreTarget) -> None:
        self.path = where if isinstance(where, str) else where.where
        self._store = open_store(where)

    def dataset_lines(self, name: str) -> bytes | None:
        """Dataset `name` as JSON lines (the format of `GET /v1/datasets/{name}`), or None if absent."""
        from bakeoff.collector.datasets import export_lines

        self._store.await_replicas()  # what collectors on a DuckLake acknowledged (see read_barrier)
        lines = export_lines(self._store, name)
        return None if lines is None else b"".join(lines)

    def create_sample(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Draw and store a dataset from a body of `POST /v1/samples`; returns its summary."""
        from bakeoff.collector.datasets import create_sample
        from bakeoff.collector.sampling import SampleSpec

        spec = SampleSpec(
            body["strategy"],
            int(body["n"]),
            body.get("by", "tag"),
            body.get("allocation", "proportional"),
            seed=int(body.get("seed", 0)),
            filters=dict(body.get("filters") or {}),
        )
        self._store.await_replicas()
        return create_sample(self._store, str(body["name"]), spec, replace=bool(body.get("replace")))

    def save_run(self, body: Mapping[str, Any]) -> None:
        """Store a replay run from a `POST /v1/runs` body (`run`, `benchmark`, `comparison`, `rows`).

        The checks are the endpoint's: a run that could not be read back is a UsageError naming why.
        """
        from bakeoff.collector.runs import run_problem, save_run

        run, benchmark, comparison = body["run"], body["benchmark"], body["comparison"]
        rows = list(body.get("rows") or [])
        problem = run_problem(run, benchmark, comparison, rows)
        if problem is not None:
            raise UsageError(f"{self.path}: the run cannot be stored: {problem}")
        save_run(self._store, run, benchmark, comparison, rows)

    def backtest_monitors(
        self, config: MonitoringConfig, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        """The alerts the config's traffic monitors would have raised over the history (sends nothing)."""
        from bakeoff.collector.monitors.runner import backtest

        return backtest(self._store, config, since, until)

    def monitor_records(self) -> MonitorRecords:
        """Monitor states, alerts and the outbox of this file, for `bakeoff watch` (see its methods)."""
        from bakeoff.collector.monitors.records import MonitorRecords

        return MonitorRecords(self._store)

    def close(self) -> None:
        """Close the DuckDB file."""
        self._store.close()

    def __enter__(self) -> LocalCollector:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_local(where: str | StoreTarget) -> LocalCollector:
    """The recorded data of the DuckDB file at `where` (a path), or of the DuckLake a
    :class:`~bakeoff.collector.settings.StoreTarget` names, opened in this process (see the module
    docstring)."""
    return LocalCollector(where)
