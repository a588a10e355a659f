"""Monitor state and alert history in the store, and the outbox of notifications still to send.

A tick saves its monitors' states and the alerts they changed in one transaction; only then are the
notifications sent, and each is marked sent once every sink has had it. A collector killed between the
two sends the rest on its next tick: a notification is repeated only if the process dies while sending it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

import duckdb
import orjson

from bakeoff.collector.monitors.signals import literal
from bakeoff.collector.rows import parse_ts
from bakeoff.collector.store import Store, event_filters, matched


def _list(values: Iterable[str]) -> str:
    """A list of strings in SQL: a JSON array as a literal (JSON text escapes any NUL). Not a list
    parameter: DuckDB spends two failed imports of pandas on every parameter and on every item of a
    list (each a search of the import path holding the GIL, 1-2 ms on a busy machine); a literal none."""
    text = literal(orjson.dumps(list(values)).decode())
    assert text is not None
    return f"CAST({text}::JSON AS VARCHAR[])"


def load_states(store: Store) -> dict[str, dict[str, Any]]:
    """Every stored monitor state, by monitor name."""
    rows = store.cursor().execute("SELECT name, state FROM monitor_state").fetchall()
    return {name: orjson.loads(state) for name, state in rows}


def save(
    store: Store, states: list[dict[str, Any]], changed: list[dict[str, Any]], silent: set[str], now: datetime
) -> None:
    """Save states and changed alerts together; alerts in `silent` are recorded as already notified."""
    final: dict[str, dict[str, Any]] = {}
    fired: dict[str, dict[str, Any]] = {}
    for alert in changed:
        final[alert["id"]] = alert
        if alert["state"] == "firing":
            fired[alert["id"]] = alert
    with store.transaction() as cursor:
        if states:
            _save_states(cursor, states, now)
        for alert_id, alert in final.items():
            notified = alert["state"] if alert_id in silent else None
            if alert_id not in fired:  # resolved in this tick, fired in an earlier one
                cursor.execute(
                    f"UPDATE alerts SET state = ?, resolved = ? WHERE {matched('id', alert_id)} = ?",
                    [alert["state"], orjson.dumps(alert).decode(), alert_id],
                )
                continue
            resolved = orjson.dumps(alert).decode() if alert["state"] == "resolved" else None
            cursor.execute(f"DELETE FROM alerts WHERE {matched('id', alert_id)} = ?", [alert_id])
            cursor.execute(
                "INSERT INTO alerts VALUES (?, ?, ?, to_timestamp(?), ?, ?, ?)",
                [
                    alert_id,
                    alert["monitor"],
                    alert["state"],
                    parse_ts(alert["started_at"]).timestamp(),
                    orjson.dumps(fired[alert_id]).decode(),
                    resolved,
                    notified,
                ],
            )


def _save_states(cursor: duckdb.DuckDBPyConnection, states: list[dict[str, Any]], now: datetime) -> None:
    """Update the stored states in one statement, inserting only those not stored yet (DuckLake has no
    keys to upsert on). An update, not a delete and an insert: on the file, whose table has a key, the
    update costs a third of the CPU and a tenth of the time, and it runs under the store's write lock,
    which ingest waits for."""
    names = [state["name"] for state in states]
    column = matched("monitor_state.name", *names)
    given = (
        f"SELECT unnest({_list(names)}) AS name, "
        f"unnest({_list(state['fingerprint'] for state in states)}) AS fingerprint, "
        f"unnest({_list(orjson.dumps(state).decode() for state in states)}) AS state"
    )
    at = f"to_timestamp({now.timestamp()!r})"  # epoch seconds: a datetime costs a failed import of pytz
    row = cursor.execute(
        f"UPDATE monitor_state SET fingerprint = u.fingerprint, state = u.state, updated_at = {at} "
        f"FROM ({given}) u WHERE {column} = u.name"
    ).fetchone()
    updated = row[0] if row else 0  # an UPDATE answers one row, its count
    if updated != len(states):
        cursor.execute(
            f"INSERT INTO monitor_state SELECT name, fingerprint, state, {at} FROM ({given}) "
            f"WHERE name NOT IN (SELECT {column} FROM monitor_state)"
        )


def pending(
    store: Store, monitors: Collection[str] | None = None
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Alerts whose latest state is not sent yet: (id, state, the notifications due, in order).

    With `monitors`, only theirs: a collector's thread and a `bakeoff watch` on the same store each send
    the alerts of the monitors they run, never the other's.
    """
    sql = "SELECT id, state, firing, resolved, notified FROM alerts WHERE notified IS DISTINCT FROM state"
    if monitors is not None:
        if not monitors:
            return []
        sql += f" AND {matched('monitor', *monitors)} IN (SELECT unnest({_list(monitors)}))"
    rows = store.cursor().execute(sql + " ORDER BY started_at, id").fetchall()
    due = []
    for alert_id, state, firing, resolved, notified in rows:
        bodies = [] if notified == "firing" else [orjson.loads(firing)]
        if state == "resolved":
            bodies.append(orjson.loads(resolved))
        due.append((alert_id, state, bodies))
    return due


def mark_notified(store: Store, alert_id: str, state: str) -> None:
    """Record that the sinks have had the alert in `state`."""
    with store.transaction() as cursor:
        cursor.execute(
            f"UPDATE alerts SET notified = ? WHERE {matched('id', alert_id)} = ?", [state, alert_id]
        )


def list_alerts(
    store: Store, monitor: str | None = None, state: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Alerts, newest first, each in its latest state; optionally of one monitor, state, or since a time."""
    clauses: list[str] = ["TRUE"]
    params: list[Any] = []
    if monitor:
        clauses.append(f"{matched('monitor', monitor)} = ?")
        params.append(monitor)
    if state:
        clauses.append("state = ?")
        params.append(state)
    if since is not None:
        clauses.append("started_at >= to_timestamp(?)")
        params.append(since.timestamp())
    rows = (
        store.cursor()
        .execute(
            f"SELECT coalesce(resolved, firing) FROM alerts WHERE {' AND '.join(clauses)} "
            "ORDER BY started_at DESC, id",
            params,
        )
        .fetchall()
    )
    return [orjson.loads(row[0]) for row in rows]


def exists(store: Store, alert_id: str) -> bool:
    """Whether the store holds alert `alert_id`."""
    sql = f"SELECT 1 FROM alerts WHERE {matched('id', alert_id)} = ?"
    return store.cursor().execute(sql, [alert_id]).fetchone() is not None


def events_to_score(
    store: Store,
    filters: dict[str, str],
    share: float,
    salt: str,
    after: tuple[float, str],
    until: float,
    limit: int,
) -> list[tuple[dict[str, Any], float, str]]:
    """The next successful events past `after` (ts, id) up to `until` in the share picked by `salt`.

    An event is picked when a hash of its id and the salt falls in the share: the same events each time,
    whoever asks, so a scorer that restarts scores what it would have. (event, its ts, its id), in order.
    """
    where, params = event_filters(filters)
    rows = (
        store.cursor()
        .execute(
            f"SELECT body, epoch(ts), id FROM events WHERE {where} AND status = 'ok' "
            "AND (ts > to_timestamp(?) OR (ts = to_timestamp(?) AND id > ?)) AND ts <= to_timestamp(?) "
            "AND hash(id || ?) % 1000000 < ? ORDER BY ts, id LIMIT ?",
            [*params, after[0], after[0], after[1], until, salt, round(share * 1_000_000), limit],
        )
        .fetchall()
    )
    return [(orjson.loads(body), float(ts), event_id) for body, ts, event_id in rows]


def save_scores(store: Store, metric: str, scores: list[tuple[str, float, float]]) -> None:
    """Store (event id, event ts, score) rows of `metric`, replacing any earlier score of those events."""
    scores = list({event_id: (event_id, ts, s) for event_id, ts, s in scores}.values())  # the last of each
    if not scores:
        return
    with store.transaction() as cursor:
        ids = [event_id for event_id, _, _ in scores]
        marks = ", ".join("?" * len(ids))
        cursor.execute(
            f"DELETE FROM metric_scores WHERE {matched('metric', metric)} = ? "
            f"AND {matched('event_id', *ids)} IN ({marks})",
            [metric, *ids],
        )
        values = ", ".join(["(?, ?, to_timestamp(?), ?, now())"] * len(scores))
        params: list[Any] = []
        for event_id, ts, score in scores:
            params += [event_id, metric, ts, min(max(float(score), 0.0), 1.0)]
        cursor.execute(f"INSERT INTO metric_scores VALUES {values}", params)
