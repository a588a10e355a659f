"""The dashboard in real headless Chromium against a running collector with recorded events."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from support.collector import CollectorProcess
from support.replaying import replay


def events() -> list[dict]:
    rows = []
    for i in range(40):
        failed = i % 10 == 0
        rows.append(
            {
                "id": f"ev{i:02d}",
                "ts": f"2026-03-01T{10 + i // 20:02d}:{i % 60:02d}:00Z",
                "provider": "openai",
                "api": "chat.completions",
                "model": "gpt-a" if i % 2 else "gpt-b",
                "tags": ["math" if i % 4 else "support"],
                "request": {"messages": [{"role": "user", "content": f"<b>question {i}</b>"}]},
                "response": {"text": f"answer {i}", "finish_reason": "stop", "tool_calls": None},
                "usage": {"input_tokens": 10, "output_tokens": 5},
                "latency_ms": 100.0 + i,
                "status": "error" if failed else "ok",
                "error": {"type": "APIError"} if failed else None,
            }
        )
    return rows


@pytest.fixture()
def page(browser: Browser, collector: CollectorProcess) -> Iterator[Page]:
    httpx.post(collector.url + "/v1/events", json={"events": events()})
    httpx.post(collector.url + "/v1/feedback", json={"event_id": "ev03", "score": 0.5, "comment": "meh"})
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    page.close()
    assert problems == []


def test_overview_shows_traffic(page: Page, collector: CollectorProcess) -> None:
    page.goto(collector.url + "/")
    expect(page.locator("#total-calls")).to_have_text("40")
    expect(page.locator("#total-errors")).to_have_text("4")
    expect(page.locator("#error-rate")).to_have_text("10.0%")
    expect(page.locator("#models tbody tr")).to_have_count(2)
    assert page.locator("#hourly div").count() == 2


def test_events_filter_page_and_detail(page: Page, collector: CollectorProcess) -> None:
    page.goto(collector.url + "/")
    expect(page.locator("#total-calls")).to_have_text("40")
    page.click("nav button[data-view=events]")
    expect(page.locator("#event-count")).to_have_text("40 events")
    expect(page.locator("#event-table tbody tr")).to_have_count(25)
    page.click("#next")
    expect(page.locator("#event-table tbody tr")).to_have_count(15)
    page.select_option("#filters select[name=status]", "error")
    page.select_option("#filters select[name=tag]", "support")
    page.click("#filters button[type=submit]")
    expect(page.locator("#event-count")).to_have_text("2 events")  # ev00 and ev20
    page.click("#event-table tbody tr >> nth=0")
    expect(page.locator("#detail")).to_be_visible()
    expect(page.locator("#detail-request")).to_contain_text("<b>question")  # shown as text, not markup
    assert page.locator("#detail-request b").count() == 0


def test_feedback_in_detail_and_sample_creation(page: Page, collector: CollectorProcess) -> None:
    page.goto(collector.url + "/")
    page.click("nav button[data-view=events]")
    expect(page.locator("#event-count")).to_have_text("40 events")
    page.click("#next")  # newest first: ev03 is on the second page
    page.locator("#event-table tbody tr[data-id=ev03]").click()
    expect(page.locator("#detail-feedback")).to_contain_text("0.5 — meh")
    page.click("#close-detail")
    page.click("nav button[data-view=datasets]")
    page.fill("#sample-form input[name=name]", "from-ui")
    page.fill("#sample-form input[name=n]", "8")
    page.click("#sample-form button[type=submit]")
    expect(page.locator("#sample-result")).to_contain_text("dataset from-ui: 8 of 40 events")
    expect(page.locator("#dataset-table tbody tr")).to_have_count(1)
    assert len(httpx.get(collector.url + "/v1/datasets/from-ui").text.splitlines()) == 8


def test_runs_show_their_verdict(page: Page, collector: CollectorProcess, tmp_path: Path) -> None:
    httpx.post(
        collector.url + "/v1/samples", json={"name": "for-replay", "strategy": "random", "n": 20, "seed": 1}
    )
    config = tmp_path / "bakeoff.yaml"
    providers = [
        {"id": "sim-medium", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
        {"id": "<b>small</b>", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0},
    ]
    config.write_text(
        yaml.safe_dump(
            {
                "collector": collector.url,
                "replay": {
                    "providers": providers,
                    "baseline": "sim-medium",
                    "metrics": ["fuzzy"],
                    "cache_dir": str(tmp_path / "cache"),
                },
            }
        )
    )
    # Playwright's sync API holds an event loop on this thread: the replay runs on another.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(replay, config, "for-replay", tmp_path / "runs").result() == 0
    page.goto(collector.url + "/")
    page.click("nav button[data-view=runs]")
    expect(page.locator("#run-table tbody tr")).to_have_count(1)
    page.click("#run-table tbody tr >> nth=0")
    expect(page.locator("#run-title")).to_contain_text("fuzzy against sim-medium")
    expect(page.locator("#verdict-table tbody tr")).to_have_count(2)
    expect(page.locator("#verdict-table tbody tr >> nth=0")).to_contain_text("baseline")
    expect(page.locator("#verdict-table tbody tr >> nth=1")).to_contain_text(
        "<b>small</b>"
    )  # text, not markup
    assert page.locator("#verdict-table b").count() == 0
