"""Monitors asked together (one query for all those reading a source) alarm exactly as each would alone,
and a tick with no window closed since the last writes nothing (ingest needs the store's write lock).

Three tags of 300 five-minute windows, 24 calls each, filled through the store's own bulk insert (SQL):
the grouping of queries, not ingest, is under test. From window 200 tag s0 fails 12% of its calls instead
of 2%, tag s1 is 60% slower, tag s2's feedback falls from 0.8 to 0.5 (given 301 s after its call, where
the others' is given 1 s after: its monitor's windows start one window later, in the same query).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bakeoff.collector.monitors.runner import TrafficRunner, backtest
from bakeoff.collector.store import Store
from bakeoff.monitor_config import parse_monitoring

pytestmark = pytest.mark.embedded_only("the grouping of monitors' queries, over the store's own bulk insert")

TAGS, WINDOWS, PER_WINDOW, CHANGE_AT = 3, 300, 24, 200
START = "2026-03-01 00:00:00+00"


def _fill(store: Store, first_window: int, windows: int) -> None:
    calls = TAGS * PER_WINDOW
    store.connection.execute(
        f"""
        INSERT INTO events (id, project, ts, provider, api, model, status, latency_ms, ttft_ms, stream,
                            input_tokens, output_tokens, tags, source, prompt_hash, received_at, body)
        SELECT 'e' || i, 'shared',
               TIMESTAMPTZ '{START}' + to_microseconds(CAST(i * 300e6 / {calls} AS BIGINT)),
               'openai', 'chat.completions', 'gpt-a',
               CASE WHEN random() < (CASE WHEN i % {TAGS} = 0 AND i >= {CHANGE_AT * calls} THEN 0.12
                                          ELSE 0.02 END) THEN 'error' ELSE 'ok' END,
               (CASE WHEN i % {TAGS} = 1 AND i >= {CHANGE_AT * calls} THEN 1.6 ELSE 1.0 END)
                   * exp(6.3 + 0.33 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())),
               exp(5.1 + 0.33 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())),
               true, 100, 200, ['s' || (i % {TAGS})], 'import', 0, now(), '{{}}'
        FROM range({first_window * calls}, {(first_window + windows) * calls}) r(i)
        """
    )
    store.connection.execute(
        f"""
        INSERT INTO feedback
        SELECT id, CASE WHEN random() < (CASE WHEN list_contains(tags, 's2') AND ts >= TIMESTAMPTZ '{START}'
                                              + INTERVAL {CHANGE_AT * 300} SECOND THEN 0.5 ELSE 0.8 END)
                        THEN 1.0 ELSE 0.0 END,
               NULL, ts + INTERVAL (CASE WHEN list_contains(tags, 's2') THEN 301 ELSE 1 END) SECOND
        FROM events WHERE hash(id) % 3 = 0 AND CAST(substr(id, 2) AS BIGINT) >= {first_window * calls}
        """
    )


MONITORS = [
    *(
        {"name": f"s{t}-{signal}", "filters": {"tag": f"s{t}"}, "signal": signal, **extra}
        for t in range(TAGS)
        for signal, extra in (
            ("error_rate", {"min_change": 0.02}),
            ("latency_p95_ms", {"min_change": 100.0}),
            ("ttft_p95_ms", {"min_change": 30.0, "window": 600.0, "direction": "both"}),
            ("feedback", {"min_change": 0.05, "direction": "down", "baseline_windows": 48}),
        )
    ),
    {"name": "all-errors", "signal": "error_rate", "min_change": 0.01, "baseline_windows": 36},
    {"name": "s0-errors-again", "filters": {"tag": "s0"}, "signal": "error_rate", "baseline_windows": 30},
]


def test_monitors_asked_together_alarm_as_each_alone(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "shared.duckdb"))
    try:
        store.connection.execute("SELECT setseed(0.42)")
        _fill(store, 0, WINDOWS)
        together = backtest(store, parse_monitoring({"monitors": MONITORS}))
        alone = [a for m in MONITORS for a in backtest(store, parse_monitoring({"monitors": [m]}))]
    finally:
        store.close()
    key = lambda alert: (alert["started_at"], alert["monitor"])  # noqa: E731
    assert together == sorted(alone, key=key)
    fired = {a["monitor"] for a in together}
    # The injected changes, found whether asked together or alone (nothing in this test is compared
    # with anything but itself otherwise).
    assert {"s0-error_rate", "s0-errors-again", "s1-latency_p95_ms", "s2-feedback"} <= fired
    for alert in together:
        if alert["monitor"] in ("s0-error_rate", "s1-latency_p95_ms"):
            assert alert["window_start"] >= "2026-03-01T16:40:00", alert  # window 200 starts at 16:40


def test_a_tick_with_no_window_closed_writes_nothing(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "idle.duckdb"))
    try:
        store.connection.execute("SELECT setseed(0.5)")
        _fill(store, 0, 100)
        runner = TrafficRunner(store, parse_monitoring({"monitors": MONITORS}))
        runner.tick()
        saved = "SELECT name, epoch(updated_at), state FROM monitor_state ORDER BY name"
        first = store.cursor().execute(saved).fetchall()
        assert len(first) == len(MONITORS)
        runner.tick()  # the same events: no window has closed since
        assert store.cursor().execute(saved).fetchall() == first
        _fill(store, 100, 3)  # three more windows: every monitor of 5-minute windows has one to take
        runner.tick()
        after = {name: updated for name, updated, _ in store.cursor().execute(saved).fetchall()}
        moved = {name for name, updated, _ in first if after[name] != updated}
        assert moved >= {m["name"] for m in MONITORS if "window" not in m}
    finally:
        store.close()
