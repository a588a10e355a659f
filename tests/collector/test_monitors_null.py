"""Null traffic, many lives: whole traffic monitors (baseline estimated from the data, then the detector)
alarm at a measured rate within `false_alarm_rate`, with min_change 0 (the hardest case).

80 independent streams (one tag each, its own seed) of 400 five-minute windows with 20 calls each and a
5% error rate that never changes; the store is filled through its own bulk insert (SQL), as the
statistics, not ingest, are under test here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bakeoff.collector.monitors.runner import backtest
from bakeoff.collector.store import Store
from bakeoff.monitor_config import parse_monitoring

pytestmark = pytest.mark.embedded_only(
    "the detector's statistics are under test, over the store's own bulk insert"
)

STREAMS, WINDOWS, PER_WINDOW, ALPHA = 80, 400, 20, 0.1


def test_null_monitors_alarm_at_most_at_their_false_alarm_rate(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "null.duckdb"))
    try:
        store.connection.execute("SELECT setseed(0.16)")
        store.connection.execute(
            f"""
            INSERT INTO events (id, project, ts, provider, api, model, status, latency_ms, stream,
                                input_tokens, output_tokens, tags, source, prompt_hash, received_at, body)
            SELECT 'e' || i, 'null', TIMESTAMPTZ '2026-03-01 00:00:00+00'
                       + to_microseconds(CAST((i // {STREAMS}) * 300e6 / {PER_WINDOW} AS BIGINT)),
                   'openai', 'chat.completions', 'gpt-a',
                   CASE WHEN random() < 0.05 THEN 'error' ELSE 'ok' END,
                   exp(6.3 + 0.33 * sqrt(-2 * ln(random())) * cos(2 * pi() * random())),
                   true, 100, 200, ['s' || (i % {STREAMS})], 'import', 0, now(), '{{}}'
            FROM range({STREAMS * WINDOWS * PER_WINDOW}) r(i)
            """
        )
        monitors = [
            {"name": f"s{i}-{signal}", "filters": {"tag": f"s{i}"}, "signal": signal, "min_change": 0}
            for i in range(STREAMS)
            for signal in ("error_rate", "latency_p95_ms")
        ]
        config = parse_monitoring({"monitors": monitors, "alerts": {"false_alarm_rate": ALPHA}})
        alerts = backtest(store, config)
    finally:
        store.close()
    for signal in ("error_rate", "latency_p95_ms"):
        alarmed = {a["monitor"] for a in alerts if a["signal"] == signal}
        assert len(alarmed) / STREAMS <= ALPHA, (signal, sorted(alarmed))  # measured: 0 of 80 each
