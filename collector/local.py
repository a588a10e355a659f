"""The collector's store opened in this process, without a server: the documented door for other parts.

`bakeoff replay`, `bakeoff watch` and the `--db PATH` commands read and write recorded data on a DuckDB file
through :func:`open_local`, never through the collector's internals or its command-line helpers::

    from bakeoff.collector import open_local

    with open_local("bakeoff.duckdb") as local:
        lines = local.dataset_lines("week47")

Opening replays the journal a stopped collector left (the events it acknowledged), so what a collector
acknowledged is visible here too. A file a running collector holds cannot be opened: the error says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bakeoff.errors import UsageError

if TYPE_CHECKING:
    from bakeoff.monitor_config import MonitoringConfig


def open_store(path: str) -> Any:
    """The raw :class:`~bakeoff.collector.store.Store` of a DuckDB file, its journal recovered."""
    import duckdb

    from bakeoff.collector.ingest import recover_journal
    from bakeoff.collector.store import Store

    try:
        store = Store(path)
    except duckdb.IOException as exc:
        raise UsageError(
            f"--db {path}: cannot open it ({exc}); is a collector using it? use --collector"
        ) from exc
    recover_journal(store)  # events a collector acknowledged before it stopped abruptly
    return store


class LocalCollector:
    """Datasets, samples and runs of one DuckDB file; a context manager that closes the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._store = open_store(path)

    def dataset_lines(self, name: str) -> bytes | None:
        """Dataset `name` as JSON lines (the format of `GET /v1/datasets/{name}`), or None if absent."""
        from bakeoff.collector.datasets import export_lines

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

    def tick_monitors(self, config: MonitoringConfig) -> list[dict[str, Any]]:
        """One tick of the config's traffic monitors (state kept in the file, alerts sent); those firing."""
        from bakeoff.collector.monitors.alerts import list_alerts
        from bakeoff.collector.monitors.runner import TrafficRunner

        TrafficRunner(self._store, config).tick()
        names = {m.name for m in config.traffic}
        return [a for a in list_alerts(self._store, state="firing") if a["monitor"] in names]

    def close(self) -> None:
        """Close the DuckDB file."""
        self._store.close()

    def __enter__(self) -> LocalCollector:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_local(path: str) -> LocalCollector:
    """The recorded data of the DuckDB file at `path`, opened in this process (see the module docstring)."""
    return LocalCollector(path)
