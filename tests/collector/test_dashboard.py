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

TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"city": "Paris"}'}}


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
                "ttft_ms": 20.0 + i,
                "stream": True,
                "status": "error" if failed else "ok",
                "error": {"type": "APIError"} if failed else None,
            }
        )
    rows[5]["response"] = {"text": None, "finish_reason": "tool_calls", "tool_calls": [TOOL_CALL]}
    rows[5].update(trace_id="ab" * 16, span_id="cd" * 8, attributes={"user": "u-17", "tier": "gold"})
    return rows


@pytest.fixture()
def problems() -> list[str]:
    """Console errors and uncaught exceptions of the page; none may be left at the end of a test."""
    return []


@pytest.fixture()
def page(browser: Browser, collector: CollectorProcess, problems: list[str]) -> Iterator[Page]:
    httpx.post(collector.url + "/v1/events", json={"events": events()})
    httpx.post(collector.url + "/v1/feedback", json={"event_id": "ev03", "score": 0.5, "comment": "meh"})
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    page.close()
    assert problems == []


def test_overview_shows_traffic_over_time(page: Page, collector: CollectorProcess) -> None:
    page.goto(collector.url + "/")
    expect(page.locator("#total-calls")).to_have_text("40")
    expect(page.locator("#total-errors")).to_have_text("4")
    expect(page.locator("#error-rate")).to_have_text("10.0%")
    expect(page.locator("#models tbody tr")).to_have_count(2)
    expect(page.locator("#top-tags tbody tr")).to_have_count(2)
    expect(page.locator("#top-tags tbody tr >> nth=0")).to_contain_text("math")
    expect(page.locator("#feedback-summary")).to_contain_text("1 scores, mean 0.50")
    # 40 calls at 10:00-10:19 and 11:20-11:39: the automatic bucket is a minute, a bar each; axes labelled.
    expect(page.locator("#chart-calls svg rect.bar")).to_have_count(40)
    expect(page.locator("#chart-calls .axis-label >> nth=0")).to_have_text("calls")
    expect(page.locator("#chart-latency .axis-label >> nth=0")).to_have_text("milliseconds")
    assert page.locator("#chart-ttft svg path.line").count() == 1
    assert page.locator("#chart-tokens svg path.line").count() == 2
    expect(page.locator("#chart-models .legend span")).to_have_count(2)
    expect(page.locator("#chart-tags .legend")).to_contain_text("support")
    page.select_option("#overview-form select[name=bucket]", "3600")  # hour buckets: 10:00 and 11:00
    expect(page.locator("#chart-calls svg rect.bar")).to_have_count(2)
    page.select_option("#overview-form select[name=span]", "3600")  # the last hour of data: 11:20-11:39
    expect(page.locator("#total-calls")).to_have_text("20")


def test_events_search_filters_typeahead_and_detail(page: Page, collector: CollectorProcess) -> None:
    page.goto(collector.url + "/")
    expect(page.locator("#total-calls")).to_have_text("40")
    page.click("nav button[data-view=events]")
    expect(page.locator("#event-count")).to_have_text("40 events")
    expect(page.locator("#event-table tbody tr")).to_have_count(25)
    page.click("#next")
    expect(page.locator("#event-table tbody tr")).to_have_count(15)
    page.fill("#filters input[name=tag]", "sup")
    expect(page.locator("#filters datalist option[value=support]")).to_have_count(1)
    page.fill("#filters input[name=tag]", "support")
    page.select_option("#filters select[name=status]", "error")
    page.click("#filters button[type=submit]")
    expect(page.locator("#event-count")).to_have_text("2 events")  # ev00 and ev20
    page.fill("#filters input[name=tag]", "")
    page.select_option("#filters select[name=status]", "")
    page.fill("#filters input[name=q]", "ANSWER 17")  # the answer's text, any case
    page.click("#filters button[type=submit]")
    expect(page.locator("#event-count")).to_have_text("1 events")
    page.fill("#filters input[name=q]", "question 3")  # 3 and 30-39
    page.click("#filters button[type=submit]")
    expect(page.locator("#event-count")).to_have_text("11 events")
    page.fill("#filters input[name=q]", "")
    page.fill("#filters input[name=since]", "2026-03-01T11:00")
    page.click("#filters button[type=submit]")
    expect(page.locator("#event-count")).to_have_text("20 events")
    page.fill("#filters input[name=since]", "")
    page.click("#filters button[type=submit]")
    page.click("#next")
    page.locator("#event-table tbody tr[data-id=ev05]").click()
    expect(page.locator("#detail")).to_be_visible()
    facts = page.locator("#detail-facts")
    for text in ("ev05", "ab" * 16, "cd" * 8, "chat.completions"):
        expect(facts).to_contain_text(text)
    expect(page.locator("#detail-tags .tag")).to_have_text(["math"])
    expect(page.locator("#detail-attributes")).to_contain_text("u-17")
    expect(page.locator("#detail-answer .tool-name")).to_have_text("lookup(…)")
    expect(page.locator("#detail-answer .tool-call pre")).to_contain_text('"city": "Paris"')
    expect(page.locator("#detail-json details")).to_have_count(3)
    # Shown as text, not markup:
    expect(page.locator("#detail-json details >> nth=0")).to_contain_text("<b>question 5</b>")
    assert page.locator("#detail b").count() == 0
    assert page.locator("#detail-json details >> nth=1").get_attribute("open") is None  # collapsed


def test_feedback_in_detail_and_sample_with_every_option(
    page: Page, collector: CollectorProcess, problems: list[str]
) -> None:
    page.goto(collector.url + "/")
    page.click("nav button[data-view=events]")
    expect(page.locator("#event-count")).to_have_text("40 events")
    page.click("#next")  # newest first: ev03 is on the second page
    page.locator("#event-table tbody tr[data-id=ev03]").click()
    expect(page.locator("#detail-feedback")).to_contain_text("0.5 — meh")
    page.click("#close-detail")
    page.click("nav button[data-view=datasets]")
    form = page.locator("#sample-form")
    form.locator("input[name=name]").fill("from-ui")
    form.locator("input[name=n]").fill("8")
    form.locator("select[name=allocation]").select_option("equal")
    page.click("#sample-form button[type=submit]")
    expect(page.locator("#sample-result")).to_contain_text("dataset from-ui: 8 of 40 events")
    expect(page.locator("#dataset-table tbody tr")).to_have_count(1)
    form.locator("input[name=n]").fill("4")
    form.locator("input[name=model]").fill("gpt")
    expect(form.locator("datalist option")).to_have_count(2)  # typeahead: gpt-a, gpt-b
    form.locator("input[name=model]").fill("")
    form.locator("select[name=status]").select_option("ok")
    page.click("#sample-form button[type=submit]")  # the name is taken: the collector says so
    expect(page.locator("#error")).to_contain_text("409: dataset 'from-ui'")
    assert [p for p in problems if "409" not in p] == []  # the browser logs the refused request
    problems.clear()
    form.locator("input[name=replace]").check()
    page.click("#sample-form button[type=submit]")
    expect(page.locator("#sample-result")).to_contain_text("dataset from-ui: 4 of 36 events")
    page.click("#dataset-table button:text('rows')")
    expect(page.locator("#dataset-title")).to_contain_text("4 rows")
    expect(page.locator("#rows-table tbody tr")).to_have_count(4)
    expect(page.locator("#strata-table tbody tr")).to_have_count(2)  # equal allocation: 2 math, 2 support
    lines = httpx.get(collector.url + "/v1/datasets/from-ui").text.splitlines()
    assert len(lines) == 4 and all('"status":"ok"' in line for line in lines)


def test_run_page_with_answers_side_by_side(page: Page, collector: CollectorProcess, tmp_path: Path) -> None:
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
                    "metrics": ["fuzzy", "exact_match"],
                    "cache_dir": str(tmp_path / "cache"),
                },
            }
        )
    )
    # Playwright's sync API holds an event loop on this thread: the replay runs on another.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(replay, config, "for-replay", tmp_path / "runs").result() == 0
    run_id = httpx.get(collector.url + "/v1/runs").json()["runs"][0]["run_id"]
    answers = httpx.get(f"{collector.url}/v1/runs/{run_id}/answers").json()
    page.goto(collector.url + "/")
    page.click("nav button[data-view=runs]")
    expect(page.locator("#run-table tbody tr")).to_have_count(1)
    page.click("#run-table tbody tr >> nth=0")
    expect(page.locator("#run-title")).to_contain_text("fuzzy against sim-medium")
    expect(page.locator("#verdict-table tbody tr")).to_have_count(2)
    expect(page.locator("#verdict-table tbody tr >> nth=0")).to_contain_text("baseline")
    expect(page.locator("#verdict-table tbody tr >> nth=1")).to_contain_text("<b>small</b>")  # as text
    assert page.locator("#run-detail b").count() == 0
    expect(page.locator("#metrics-table tbody tr")).to_have_count(4)  # 2 metrics x 2 providers
    stored = httpx.get(f"{collector.url}/v1/runs/{run_id}").json()
    comparisons = stored["comparison"]["comparisons"]
    assert {c["metric"] for c in comparisons} >= {"fuzzy", "exact_match"}
    expect(page.locator("#comparisons-table tbody tr")).to_have_count(len(comparisons))
    expect(page.locator("#chart-scores svg rect.bar")).to_have_count(2)
    expect(page.locator("#chart-latency-run svg")).to_have_count(1)
    # Failed recordings (ev00, ev10, ... of the sample) are skipped with their reason.
    skipped = stored["run"]["skipped_rows"]
    expect(page.locator("#skipped-count")).to_have_text(f"{len(skipped)} skipped")
    if skipped:
        expect(page.locator("#skipped-table")).to_contain_text("the recorded call failed")
    every = answers["counts"]["all"]
    expect(page.locator("#answers-count")).to_have_text(f"{answers['total']} of {every} events")
    expect(page.locator("#answers-table tbody tr.outcome")).to_have_count(answers["counts"]["all"])
    assert answers["counts"]["all"] > 0
    reference = page.locator("#answers-table tbody tr.outcome >> nth=0 >> td >> nth=1")
    expect(reference).not_to_have_text("\N{EN DASH}")
    for outcome in ("lost", "won", "disagreed"):
        page.click(f"#outcomes button[data-outcome={outcome}]")
        count = answers["counts"][outcome]
        expect(page.locator("#answers-count")).to_have_text(f"{count} of {answers['counts']['all']} events")
        expect(page.locator(f"#answers-table tbody tr.outcome.{outcome}")).to_have_count(count)
    page.click("#outcomes button[data-outcome=all]")
    page.check("#group-by-tag")
    expect(page.locator("#answers-table tbody tr.group")).to_have_count(len(answers["tags"]))
    # The answer columns share the window: nothing is wider than the page.
    width = page.evaluate("document.querySelector('#answers-table').scrollWidth")
    assert width <= 1400


def scored_run(run_id: str, day: int, scores: dict[str, float]) -> dict:
    providers = list(scores)
    return {
        "run": {"run_id": run_id, "timestamp": f"2026-03-0{day}T00:00:00Z", "dataset": "d"},
        "benchmark": {
            "providers": providers,
            "primary_metric": "fuzzy",
            "total_samples": 10,
            "metrics": {
                "fuzzy": {p: {"score": s, "ci95": [s - 0.1, s + 0.1]} for p, s in scores.items()},
                "exact_match": {p: {"score": s / 2, "ci95": [0, s]} for p, s in scores.items()},
            },
        },
        "comparison": {"baseline": providers[0], "comparisons": []},
        "rows": [],
    }


def test_two_runs_compared_and_a_provider_over_runs(page: Page, collector: CollectorProcess) -> None:
    for run_id, day, scores in [
        ("r-1", 1, {"base": 0.5, "cand": 0.6}),
        ("r-2", 2, {"base": 0.55, "cand": 0.7}),
        ("r-3", 3, {"base": 0.52, "other": 0.4}),
    ]:
        assert httpx.post(collector.url + "/v1/runs", json=scored_run(run_id, day, scores)).status_code == 201
    listed = httpx.get(collector.url + "/v1/scores").json()["runs"]
    assert [r["run_id"] for r in listed] == ["r-1", "r-2", "r-3"]  # oldest first
    cand = listed[1]["scores"]["fuzzy"]["cand"]  # 0.7 + 0.1: the file's JSON type rounds it, DuckLake not
    assert cand["score"] == 0.7 and cand["ci95"] == pytest.approx([0.6, 0.8])
    page.goto(collector.url + "/")
    page.click("nav button[data-view=runs]")
    expect(page.locator("#compare-a")).to_have_value("r-2")  # the two newest, by default
    expect(page.locator("#compare-b")).to_have_value("r-3")
    page.select_option("#compare-a", "r-1")
    page.select_option("#compare-b", "r-2")
    table = page.locator("#compare-table tbody tr")
    expect(table).to_have_count(4)  # 2 metrics x 2 providers
    cand = page.locator("#compare-table tbody tr", has_text="fuzzy").filter(has_text="cand")
    expect(cand).to_contain_text("+0.100")
    page.select_option("#history-provider", "base")
    page.select_option("#history-metric", "fuzzy")
    expect(page.locator("#chart-history svg circle")).to_have_count(3)  # base ran in all three
    page.select_option("#history-provider", "cand")
    expect(page.locator("#chart-history svg circle")).to_have_count(2)
    expect(page.locator("#chart-history h3")).to_have_text("cand: fuzzy by run")


def test_cost_over_time_at_list_prices(browser: Browser, collector: CollectorProcess) -> None:
    from genai_prices import Usage, calc_price

    priced = []
    for i, rows in enumerate(events()[:6]):
        priced.append(
            {
                **rows,
                "id": f"cost{i}",
                "model": "gpt-4o-mini",
                "usage": {"input_tokens": 1000 * (i + 1), "output_tokens": 100},
            }
        )
    httpx.post(collector.url + "/v1/events", json={"events": events()[6:10] + priced})
    series = httpx.get(collector.url + "/v1/stats/series").json()
    total = sum(p["cost_usd"] for p in series["points"])
    expected = calc_price(Usage(input_tokens=21_000, output_tokens=600), "gpt-4o-mini", provider_id="openai")
    assert total == pytest.approx(float(expected.total_price))
    assert sum(p["unpriced_calls"] for p in series["points"]) == 4  # gpt-a and gpt-b are unknown
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(collector.url + "/")
    expect(page.locator("#cost-card")).to_have_text(f"${total:.4f}")
    expect(page.locator("#cost-note")).to_have_text("4 calls of unpriced models left out")
    expect(page.locator("#chart-cost-time .axis-label >> nth=0")).to_have_text("USD")
    assert page.locator("#chart-cost-time svg circle").count() == 10  # a minute each; 0 where unpriced
    page.close()
