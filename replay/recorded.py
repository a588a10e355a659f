"""Replay's one door to recorded data: datasets to replay, fresh samples to draw, finished runs to store.

Two backends behind one interface: a running collector over its HTTP API (`collector:` in the config), or a
DuckDB file opened in this process through :func:`bakeoff.collector.open_local` (`db:`). Nothing else in
replay touches the collector. A dataset may also be a JSON-lines file, read directly.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from bakeoff.dataset_format import parse_json_lines
from bakeoff.errors import UsageError
from bakeoff.monitor_config import MonitoringConfig, TrafficMonitor
from bakeoff.replay.config import ReplayConfig

if TYPE_CHECKING:
    from bakeoff.collector import LocalCollector

DEFAULT_COLLECTOR = "http://127.0.0.1:7800"


class RecordedData(Protocol):
    """Where recorded traffic lives, as replay needs it."""

    where: str

    def dataset_lines(self, name: str) -> bytes | None:
        """Dataset `name` as JSON lines, or None when there is no such dataset."""

    def create_sample(self, body: dict[str, Any]) -> dict[str, Any]:
        """Draw and store a dataset (a `POST /v1/samples` body); its summary."""

    def save_run(self, body: dict[str, Any]) -> None:
        """Store a finished run for the dashboard (a `POST /v1/runs` body)."""

    def backtest_monitors(
        self, config: MonitoringConfig, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        """The alerts the traffic monitors would have raised over the recorded history."""

    def tick_monitors(self, config: MonitoringConfig) -> list[dict[str, Any]]:
        """One tick of the traffic monitors, state kept with the data, nothing sent; the alerts changed."""

    def monitor_states(self, names: Collection[str]) -> dict[str, dict[str, Any]]:
        """The stored state of each named monitor that has one, by name."""

    def save_monitor_states(self, states: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        """Save monitor states and the alerts they opened or resolved, together."""

    def pending_alerts(self, names: Collection[str]) -> list[tuple[str, str, list[dict[str, Any]]]]:
        """The notifications the named monitors still owe: (alert id, its state, the bodies due in order)."""

    def mark_alert_notified(self, alert_id: str, state: str) -> None:
        """Record that the sinks have had the alert in `state`."""

    def firing_alerts(self, names: Collection[str]) -> list[dict[str, Any]]:
        """The named monitors' alerts that are firing, newest first."""

    def events_to_score(
        self, monitor: TrafficMonitor, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
        """The next page of a `metric:NAME` monitor's answers to score, and where the page after starts."""

    def save_metric_scores(self, metric: str, scores: list[tuple[str, float, float]]) -> None:
        """Store (event id, event ts epoch, score) rows of `metric`."""


class CollectorHttp:
    """A running collector, over its HTTP API; its refusals become one-line usage errors."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.where = url.rstrip("/")
        self._api_key = api_key or os.environ.get("BAKEOFF_API_KEY")

    def _call(self, method: str, path: str, body: Any = None) -> bytes:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        data = None if body is None else orjson.dumps(body)
        request = urllib.request.Request(self.where + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                detail = orjson.loads(detail).get("error", detail)
            raise UsageError(f"the collector at {self.where} answered {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            raise UsageError(f"cannot reach the collector at {self.where}: {exc.reason}") from exc

    def dataset_lines(self, name: str) -> bytes | None:
        try:
            return self._call("GET", f"/v1/datasets/{urllib.parse.quote(name, safe='')}")
        except UsageError as exc:
            if isinstance(exc.__cause__, urllib.error.HTTPError) and exc.__cause__.code == 404:
                return None
            raise

    def create_sample(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(orjson.loads(self._call("POST", "/v1/samples", body)))

    def save_run(self, body: dict[str, Any]) -> None:
        self._call("POST", "/v1/runs", body)

    def backtest_monitors(
        self, config: MonitoringConfig, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        body = {
            "config": config.model_dump(mode="json", include={"monitors", "alerts"}),
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
        }
        return list(orjson.loads(self._call("POST", "/v1/monitors/backtest", body))["alerts"])

    def tick_monitors(self, config: MonitoringConfig) -> list[dict[str, Any]]:
        body = {"config": config.model_dump(mode="json", include={"monitors", "alerts"})}
        return list(orjson.loads(self._call("POST", "/v1/monitors/tick", body))["alerts"])

    def monitor_states(self, names: Collection[str]) -> dict[str, dict[str, Any]]:
        if not names:
            return {}
        query = urllib.parse.urlencode([("monitor", n) for n in sorted(names)])
        return dict(orjson.loads(self._call("GET", f"/v1/monitors/state?{query}"))["states"])

    def save_monitor_states(self, states: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        self._call("PUT", "/v1/monitors/state", {"states": states, "alerts": changed})

    def pending_alerts(self, names: Collection[str]) -> list[tuple[str, str, list[dict[str, Any]]]]:
        if not names:
            return []
        query = urllib.parse.urlencode([("monitor", n) for n in sorted(names)])
        due = orjson.loads(self._call("GET", f"/v1/alerts/pending?{query}"))["pending"]
        return [(d["id"], d["state"], d["bodies"]) for d in due]

    def mark_alert_notified(self, alert_id: str, state: str) -> None:
        path = f"/v1/alerts/{urllib.parse.quote(alert_id, safe='')}/notified"
        self._call("POST", path, {"state": state})

    def firing_alerts(self, names: Collection[str]) -> list[dict[str, Any]]:
        alerts = orjson.loads(self._call("GET", "/v1/alerts?state=firing"))["alerts"]
        return [a for a in alerts if a["monitor"] in names]

    def events_to_score(
        self, monitor: TrafficMonitor, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
        body = {"monitor": monitor.model_dump(mode="json"), "after": after, "limit": limit}
        page = orjson.loads(self._call("POST", "/v1/monitors/to-score", body))
        return list(page["events"]), None if page["next"] is None else (page["next"][0], page["next"][1])

    def save_metric_scores(self, metric: str, scores: list[tuple[str, float, float]]) -> None:
        rows = [{"event_id": e, "ts": t, "score": s} for e, t, s in scores]
        self._call("POST", "/v1/monitors/scores", {"metric": metric, "scores": rows})


class DuckDBFile:
    """A DuckDB file, opened for each operation through the collector's documented door."""

    def __init__(self, path: str) -> None:
        self.where = path

    def _open(self) -> LocalCollector:
        from bakeoff.collector import open_local

        return open_local(self.where)

    def dataset_lines(self, name: str) -> bytes | None:
        with self._open() as local:
            return local.dataset_lines(name)

    def create_sample(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._open() as local:
            return local.create_sample(body)

    def save_run(self, body: dict[str, Any]) -> None:
        with self._open() as local:
            local.save_run(body)

    def backtest_monitors(
        self, config: MonitoringConfig, since: datetime | None, until: datetime | None
    ) -> list[dict[str, Any]]:
        with self._open() as local:
            return local.backtest_monitors(config, since, until)

    def tick_monitors(self, config: MonitoringConfig) -> list[dict[str, Any]]:
        with self._open() as local:
            return local.monitor_records().tick_traffic(config)

    def monitor_states(self, names: Collection[str]) -> dict[str, dict[str, Any]]:
        with self._open() as local:
            return local.monitor_records().states(names)

    def save_monitor_states(self, states: list[dict[str, Any]], changed: list[dict[str, Any]]) -> None:
        with self._open() as local:
            local.monitor_records().save(states, changed)

    def pending_alerts(self, names: Collection[str]) -> list[tuple[str, str, list[dict[str, Any]]]]:
        with self._open() as local:
            return local.monitor_records().pending(names)

    def mark_alert_notified(self, alert_id: str, state: str) -> None:
        with self._open() as local:
            local.monitor_records().mark_notified(alert_id, state)

    def firing_alerts(self, names: Collection[str]) -> list[dict[str, Any]]:
        with self._open() as local:
            return local.monitor_records().firing(names)

    def events_to_score(
        self, monitor: TrafficMonitor, after: tuple[float, str] | None, limit: int
    ) -> tuple[list[dict[str, Any]], tuple[float, str] | None]:
        with self._open() as local:
            return local.monitor_records().events_to_score(monitor, after, limit)

    def save_metric_scores(self, metric: str, scores: list[tuple[str, float, float]]) -> None:
        with self._open() as local:
            local.monitor_records().save_scores(metric, scores)


def recorded_data(config: ReplayConfig | MonitoringConfig, api_key: str | None = None) -> RecordedData | None:
    """The backend the config names (`db:` first, then `collector:`), or None when it names neither."""
    if config.db:
        return DuckDBFile(config.db)
    if config.collector:
        return CollectorHttp(config.collector, api_key)
    return None


def _looks_like_file(dataset: str) -> bool:
    return dataset.endswith((".jsonl", ".json", ".ndjson")) or os.sep in dataset or Path(dataset).is_file()


def load_dataset_rows(dataset: str, config: ReplayConfig, api_key: str | None = None) -> list[dict[str, Any]]:
    """The rows of `dataset`: a file path, else a dataset name in the config's `db:` or `collector:`."""
    if _looks_like_file(dataset):
        path = Path(dataset)
        if not path.is_file():
            raise UsageError(f"--dataset {dataset}: no such file")
        return parse_json_lines(path.read_bytes(), dataset)
    source = recorded_data(config, api_key) or CollectorHttp(DEFAULT_COLLECTOR, api_key)
    lines = source.dataset_lines(dataset)
    if lines is None:
        raise UsageError(f"--dataset {dataset}: no such dataset in {source.where}")
    return parse_json_lines(lines, f"{source.where} dataset {dataset}")
