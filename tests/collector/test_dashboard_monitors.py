"""The monitors page in real headless Chromium against `bakeoff serve --monitors`: a monitor's signal
window by window with its baseline, its alarm line and the alert it raised; the alert history filtered."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support.collector import CollectorProcess
from support.traffic import Regime, post, traffic

WINDOW_S = 300.0
CONFIG = f"""
monitors:
  - name: svc-errors
    kind: traffic
    filters: {{tag: svc}}
    signal: error_rate
    window: {WINDOW_S}
    baseline_windows: 24
    direction: up
    min_change: 0.01
alerts:
  false_alarm_rate: 0.01
  sinks:
    - {{file: ALERTS}}
"""


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """A collector whose monitor saw 100 quiet windows, then 60 at a 10% error rate: one alert."""
    folder = tmp_path_factory.mktemp("monitored")
    config = folder / "bakeoff.yaml"
    config.write_text(CONFIG.replace("ALERTS", str(folder / "alerts.jsonl")))
    args = ("--monitors", str(config), "--monitor-interval", "0.2")
    collector = CollectorProcess(folder / "bakeoff.duckdb", *args).start()
    try:
        post(
            collector.url,
            traffic([Regime(100), Regime(60, error_rate=0.10)], tag="svc", seed=1, per_window=40),
        )
        deadline = time.monotonic() + 60
        while not httpx.get(collector.url + "/v1/alerts").json()["alerts"]:
            assert time.monotonic() < deadline, "the monitor raised no alert"
            time.sleep(0.2)
        yield collector
    finally:
        collector.stop()


def test_the_series_endpoint(watched: CollectorProcess) -> None:
    series = httpx.get(watched.url + "/v1/monitors/svc-errors/series", params={"windows": 500}).json()
    assert series["signal"] == "error_rate" and series["window_s"] == WINDOW_S
    assert len(series["points"]) == 160  # every window of traffic, each with its 40 calls
    assert {p["n"] for p in series["points"]} == {40}
    assert all(
        b["t"] - a["t"] == WINDOW_S for a, b in zip(series["points"], series["points"][1:], strict=False)
    )
    quiet = [p["value"] for p in series["points"][:100]]
    loud = [p["value"] for p in series["points"][100:]]
    assert sum(quiet) / 100 < 0.03 < 0.07 < sum(loud) / 60
    baseline = series["baseline"]
    assert baseline["lower"] <= baseline["value"] <= baseline["upper"]
    assert series["thresholds"] == {"up": pytest.approx(baseline["upper"] + 0.01)}
    (alert,) = series["alerts"]
    assert alert["monitor"] == "svc-errors" and alert["state"] == "firing"
    assert (
        httpx.get(watched.url + "/v1/monitors/svc-errors/series", params={"windows": 10}).json()["points"][-1]
        == series["points"][-1]
    )
    missing = httpx.get(watched.url + "/v1/monitors/nope/series")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert httpx.get(watched.url + "/v1/monitors/svc-errors/series", params={"windows": 0}).status_code == 422


def test_the_monitors_page(
    browser: Browser, watched: CollectorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page: Page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda r: None if r.url.startswith(watched.url) else problems.append(r.url))
    page.goto(watched.url + "/")
    page.click("nav button[data-view=monitors]")
    expect(page.locator("#monitor-table tbody tr")).to_have_count(1)
    expect(page.locator("#monitor-table tbody tr")).to_contain_text("firing")
    chart = page.locator("#monitor-charts .chart-box[data-monitor=svc-errors]")
    expect(chart.locator("svg path.line")).to_have_count(1)
    expect(chart.locator("svg circle")).to_have_count(160)  # a point per window
    expect(chart.locator("svg line.hline.baseline")).to_have_count(1)
    expect(chart.locator("svg line.hline.threshold")).to_have_count(1)
    expect(chart.locator("svg rect.band")).to_have_count(1)  # the open alert, to the end
    expect(chart.locator(".axis-label >> nth=0")).to_have_text("error_rate")
    expect(page.locator("#alert-table tbody tr")).to_have_count(1)
    expect(page.locator("#alert-table tbody tr")).to_contain_text("svc-errors")
    expect(page.locator("#alert-count")).to_have_text("1 alerts")
    page.select_option("#alert-filters select[name=state]", "resolved")
    expect(page.locator("#alert-count")).to_have_text("0 alerts")
    page.select_option("#alert-filters select[name=state]", "firing")
    expect(page.locator("#alert-count")).to_have_text("1 alerts")
    shots = tmp_path_factory.mktemp("dashboard-screenshots")
    page.screenshot(path=str(shots / "monitors.png"), full_page=True)
    print(f"screenshot: {shots / 'monitors.png'}")
    page.close()
    assert problems == []
