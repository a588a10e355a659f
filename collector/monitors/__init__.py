"""Continuous monitoring of recorded traffic: signals by windows, a sequential change detector, alerts.

config  (bakeoff.monitor_config)  what to watch
signals                           per-window counts from the store, incrementally
detector                          the always-valid change detector (false alarms bounded for life)
engine                            one monitor's state machine: baseline, watching, firing, resolved
alerts                            state and alert history in DuckDB, and the outbox of notifications
(sinks: bakeoff.monitor_sinks)      webhook (signed), Slack, JSON-lines file, stderr; retried
runner                            ticks and backtests over a store; the collector's monitor thread
routes                            GET /v1/monitors, GET /v1/alerts
"""
