"""The HTML report of a real replay in headless Chromium: the recommendation, every metric with its
weighted estimate, the skipped rows with their reasons, answers side by side that wrap in the window,
tool calls rendered as calls (the reference too), a "disagreements only" switch; offline, and nothing
a hostile recording carries runs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Browser, expect

from bakeoff.cli import main
from support.replaying import replay

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Paris"}'}}


def _event(i: int) -> dict[str, Any]:
    tool = i % 4 == 1
    response: dict[str, Any] = {"text": f"answer {i} {HOSTILE}", "finish_reason": "stop", "tool_calls": None}
    if tool:
        response = {"text": None, "finish_reason": "tool_calls", "tool_calls": [CALL]}
    return {
        "id": f"ev{i:02d}",
        "ts": f"2026-03-01T10:{i:02d}:00Z",
        "provider": "openai",
        "api": "chat.completions",
        "model": "gpt-a",
        "tags": ["math" if i % 2 else "support"],
        "request": {
            "messages": [{"role": "user", "content": f"question {i} " + "long words " * 80 + HOSTILE}]
        },
        "response": response,
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "latency_ms": 100.0,
        "status": "error" if i == 7 else "ok",
        "error": {"type": "APIError"} if i == 7 else None,
        "weight": 1.0 + i % 3,
    }


def test_the_report_has_what_the_run_page_has(browser: Browser, tmp_path: Path) -> None:
    dataset = tmp_path / "dataset.jsonl"
    dataset.write_text("".join(json.dumps(_event(i)) + "\n" for i in range(16)))
    providers = [
        {"id": "sim-medium", "provider": "simulated", "model": "sim-medium", "latency_scale": 0},
        {"id": "small", "provider": "simulated", "model": "sim-small-fast", "latency_scale": 0},
    ]
    config = tmp_path / "bakeoff.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "replay": {
                    "providers": providers,
                    "baseline": "sim-medium",
                    "metrics": ["fuzzy", "exact_match"],
                    "cache_dir": str(tmp_path / "cache"),
                }
            }
        )
    )
    # Playwright's sync API holds an event loop on this thread: the replay runs on another.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(replay, config, dataset, tmp_path / "runs").result() == 0
        run = next((tmp_path / "runs").glob("*"))
        report = tmp_path / "report.html"
        assert pool.submit(main, ["report", str(run), "--html", str(report)]).result() == 0
    state = json.loads((run / "run.json").read_text())
    skipped = len(state["skipped_rows"]) + len(state["skipped"])
    assert skipped >= 1  # the failed recording

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on(
        "request", lambda r: None if r.url.startswith(("file:", "data:", "blob:")) else problems.append(r.url)
    )
    page.goto(report.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg")
    expect(page.locator(".recommendation strong")).to_contain_text("ecommend")
    metrics = page.locator("h2:text('Every metric') + table tbody tr")
    expect(metrics).to_have_count(4)  # fuzzy and exact_match, two providers each
    expect(metrics.first).to_contain_text("(primary)")
    assert "[" in metrics.first.locator("td").nth(4).inner_text()  # the weighted estimate and interval
    expect(page.locator("h2:text('Skipped rows') + p")).to_have_text(f"{skipped} skipped")
    expect(page.locator("h2:text('Skipped rows') + p + table")).to_contain_text("ev07")
    answers = page.locator("table.answers tbody tr")
    replayed = answers.count()
    assert replayed == 15
    # A tool-call reference is shown as the call, not as escaped JSON or an empty cell.
    tool_row = page.locator("table.answers tbody tr", has_text="ev01")
    expect(tool_row.locator("td").nth(2).locator(".tool-name")).to_have_text("lookup(…)")
    expect(tool_row.locator("td").nth(2)).to_contain_text('"city": "Paris"')
    expect(answers.first.locator("td").nth(1)).to_contain_text("<script>")  # the prompt, as text
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # the side by side wraps
    differ = page.locator("table.answers tbody tr.differ").count()
    label = page.locator("label[for=only-disagreements]")
    expect(label).to_contain_text(f"({differ} of {replayed} events")
    page.check("#only-disagreements")
    expect(page.locator("table.answers tbody tr:visible")).to_have_count(differ)
    page.uncheck("#only-disagreements")
    expect(page.locator("table.answers tbody tr:visible")).to_have_count(replayed)
    assert page.evaluate("window.__pwned === undefined")
    assert page.locator("table.answers script, table.answers img").count() == 0
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page.screenshot(path=str(shots / "report.png"), full_page=True)
    print(f"screenshot: {shots / 'report.png'}")
    page.close()
    assert problems == []
