"""Every dashboard page with a hostile event recorded: nothing it carries runs, nothing is fetched from
elsewhere, nothing logs an error; a screenshot of each page is kept. The dataset download works on a
collector with an API key (the key travels in the Authorization header, not in a link)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from support.collector import CollectorProcess

PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    '"><iframe src="javascript:window.top.__pwned=1"></iframe>',
    "<img src='http://198.51.100.7/beacon.png'>",
]
HOSTILE = " ".join(PAYLOADS)
KEY = "s3cret-key"


def hostile_events() -> list[dict]:
    call = {"id": "t1", "type": "function", "function": {"name": HOSTILE, "arguments": HOSTILE}}
    rows = []
    for i in range(6):
        rows.append(
            {
                "id": f"evil{i}" if i else PAYLOADS[1],
                "ts": f"2026-03-01T10:0{i}:00Z",
                "provider": "openai",
                "api": "chat.completions",
                "model": HOSTILE if i % 2 else "gpt-a",
                "tags": [HOSTILE, "plain"] if i % 3 else ["plain"],
                "request": {"messages": [{"role": "user", "content": HOSTILE}]},
                "response": {"text": HOSTILE, "finish_reason": "tool_calls", "tool_calls": [call]},
                "usage": {"input_tokens": 3, "output_tokens": 4},
                "latency_ms": 50.0 + i,
                "status": "ok",
                "attributes": {HOSTILE: HOSTILE},
                "trace_id": HOSTILE,
                "span_id": HOSTILE,
            }
        )
    return rows


def hostile_run(events: list[dict]) -> dict:
    providers = ["base", HOSTILE]
    summary = {"score": 0.5, "passed": 1, "total": 2, "ci95": [0.1, 0.9]}
    return {
        "run": {
            "run_id": "run-1",
            "timestamp": "2026-03-02T00:00:00Z",
            "dataset": "evil",
            "status": "done",
            "skipped_rows": [{"event_id": HOSTILE, "reason": HOSTILE}],
            "skipped": [{"event_id": "evil1", "provider": HOSTILE, "reason": HOSTILE}],
        },
        "benchmark": {
            "providers": providers,
            "primary_metric": HOSTILE,
            "total_samples": len(events),
            "metrics": {HOSTILE: {p: summary for p in providers}},
            "cost_analysis": {p: {"total_cost": 0.01, "cost_per_1k_requests": 1.0} for p in providers},
            "latency": {p: {"p50_ms": 10, "p95_ms": 20, "p99_ms": 30} for p in providers},
            "errors": {p: 0 for p in providers},
            "recommendation": {"recommended": HOSTILE, "reason": HOSTILE, "excluded": {HOSTILE: HOSTILE}},
        },
        "comparison": {
            "baseline": "base",
            "alpha": 0.05,
            "comparisons": [
                {
                    "provider": HOSTILE,
                    "baseline": "base",
                    "metric": HOSTILE,
                    "diff": 0.1,
                    "ci95": [-0.1, 0.3],
                    "p_value": 0.2,
                    "p_adjusted": 0.4,
                    "test": HOSTILE,
                    "significant": False,
                    "n": 2,
                    "verdict": HOSTILE,
                    "non_inferior": False,
                }
            ],
            "segments": [
                {
                    "provider": HOSTILE,
                    "baseline": "base",
                    "metric": HOSTILE,
                    "segment": HOSTILE,
                    "diff": 0.0,
                    "ci95": [0, 0],
                    "p_value": 1,
                    "p_adjusted": 1,
                    "significant": False,
                    "n": 1,
                }
            ],
        },
        "rows": [
            {
                "event_id": e["id"],
                "provider": p,
                "output": e["response"],
                "error": HOSTILE if i else None,
                "scores": {HOSTILE: {"score": i % 2, "passed": True, "reason": HOSTILE}},
                "tags": [HOSTILE],
            }
            for e in events
            for i, p in enumerate(providers)
        ],
    }


@pytest.fixture()
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorProcess]:
    """A collector that wants `Authorization: Bearer KEY`, with the hostile events, a dataset and a run."""
    folder = tmp_path_factory.mktemp("keyed")
    monitors = {
        "monitors": [
            {
                "name": HOSTILE,
                "kind": "traffic",
                "filters": {"tag": HOSTILE},
                "signal": "error_rate",
                "window": 60,
            }
        ],
        "alerts": {"sinks": [{"file": str(folder / "alerts.jsonl")}]},
    }
    (folder / "monitors.yaml").write_text(yaml.safe_dump(monitors))
    args = ("--api-key", KEY, "--monitors", str(folder / "monitors.yaml"), "--monitor-interval", "0.2")
    process = CollectorProcess(folder / "bakeoff.duckdb", *args).start()
    auth = {"Authorization": f"Bearer {KEY}"}
    try:
        events = hostile_events()
        for path, body in [
            ("/v1/events", {"events": events}),
            ("/v1/feedback", {"event_id": "evil1", "score": 0.2, "comment": HOSTILE}),
            ("/v1/samples", {"name": "evil", "strategy": "stratified", "n": 4, "seed": 3}),
            ("/v1/runs", hostile_run(events)),
        ]:
            assert httpx.post(process.url + path, json=body, headers=auth).status_code < 300, path
        yield process
    finally:
        process.stop()


@pytest.fixture()
def watched(browser: Browser, keyed: CollectorProcess) -> Iterator[Page]:
    """A page that fails the test on a console error, an uncaught exception, a script that ran, or a
    request to anywhere but the collector."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(f"localStorage.setItem('bakeoff-api-key', {KEY!r})")
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(f"dialog {dialog.message}"))

    def outside(request: object) -> None:
        url = getattr(request, "url", "")
        if not url.startswith((keyed.url, "data:", "blob:")):
            problems.append(f"request to {url}")

    page.on("request", outside)
    yield page
    assert page.evaluate("window.__pwned === undefined"), page.evaluate("String(window.__pwned)")
    assert page.locator("main script, main iframe, main img").count() == 0
    page.close()
    assert problems == []


def shoot(page: Page, name: str, folder: Path) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_every_page_with_a_hostile_event(
    watched: Page, keyed: CollectorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = watched
    shots = tmp_path_factory.mktemp("dashboard-screenshots")
    page.goto(keyed.url + "/")
    expect(page.locator("#total-calls")).to_have_text("6")
    expect(page.locator("#models")).to_contain_text("<script>")
    expect(page.locator("#chart-tags .legend")).to_contain_text("<img src=x")
    shoot(page, "overview", shots)

    page.click("nav button[data-view=events]")
    expect(page.locator("#event-count")).to_have_text("6 events")
    page.fill("#filters input[name=q]", "<svg onload")
    page.click("#filters button[type=submit]")
    expect(page.locator("#event-count")).to_have_text("6 events")
    page.fill("#filters input[name=tag]", "<scr")
    expect(page.locator("#filters datalist option")).to_have_count(1)
    page.click("#event-table tbody tr >> nth=-1")
    expect(page.locator("#detail-facts")).to_contain_text(PAYLOADS[0])
    expect(page.locator("#detail-attributes")).to_contain_text(PAYLOADS[1])
    expect(page.locator("#detail-answer .tool-name")).to_contain_text("<script>")
    shoot(page, "event-detail", shots)
    page.click("#close-detail")

    page.click("nav button[data-view=datasets]")
    expect(page.locator("#dataset-table tbody tr")).to_have_count(1)
    page.click("#dataset-table button:text('rows')")
    expect(page.locator("#rows-table tbody tr")).to_have_count(4)
    expect(page.locator("#rows-table")).to_contain_text("<iframe")
    shoot(page, "datasets", shots)

    page.click("nav button[data-view=runs]")
    page.click("#run-table tbody tr >> nth=0")
    expect(page.locator("#run-recommendation")).to_contain_text(f"Recommended: {HOSTILE}")
    expect(page.locator("#segments-table tbody tr")).to_have_count(1)
    expect(page.locator("#skipped-count")).to_have_text("2 skipped")
    expect(page.locator("#answers-table tbody tr.outcome")).to_have_count(6)
    page.click("#outcomes button[data-outcome=won]")
    expect(page.locator("#answers-table tbody tr.outcome")).to_have_count(6)  # 1 beats 0 on every row
    page.click("#outcomes button[data-outcome=lost]")
    expect(page.locator("#answers-table tbody tr.outcome")).to_have_count(0)
    page.click("#outcomes button[data-outcome=all]")
    page.check("#group-by-tag")
    expect(page.locator("#answers-table tbody tr.group")).to_have_count(2)  # by each event's first tag
    expect(page.locator("#answers-table tbody tr.group >> nth=1")).to_contain_text("<script>")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400  # long names wrap
    shoot(page, "run", shots)
    expect(page.locator("#compare-table")).to_contain_text("<script>")  # one run: A and B are it
    expect(page.locator("#chart-history svg circle")).to_have_count(1)

    page.click("nav button[data-view=monitors]")
    expect(page.locator("#monitor-table tbody tr")).to_contain_text(PAYLOADS[0])
    chart = page.locator("#monitor-charts .chart-box")
    expect(chart.locator("h3")).to_contain_text(PAYLOADS[1])
    expect(chart.locator("svg circle")).to_have_count(4)  # the four hostile-tagged events, a window each
    shoot(page, "monitors", shots)


def test_dataset_download_carries_the_api_key(watched: Page, keyed: CollectorProcess) -> None:
    page = watched
    assert httpx.get(keyed.url + "/v1/datasets/evil").status_code == 401  # a bare link would get this
    page.goto(keyed.url + "/")
    expect(page.locator("#api-key")).to_have_value(KEY)
    page.click("nav button[data-view=datasets]")
    with page.expect_download() as info:
        page.click("#dataset-table button.download")
    download = info.value
    assert download.suggested_filename == "evil.jsonl"
    lines = Path(download.path()).read_text().splitlines()
    assert len(lines) == 4 and all('"weight":' in line for line in lines)
