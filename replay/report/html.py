"""`bakeoff report RUN --html FILE`: one self-contained HTML file (plotly.js inlined once, no network).

Sections: the verdict table; score by provider with 95% intervals; cost vs quality with the Pareto
front; latency distributions; and the answers side by side per event, with their scores.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from bakeoff.replay.report.render import HEADERS, feedback_lines, segment_lines, verdict_rows
from bakeoff.replay.run.loading import RunFiles

MAX_EVENTS = 300  # side-by-side rows kept in the file; the rest are in detailed_results.jsonl

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1400px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;vertical-align:top;text-align:left}
th{background:#f5f5f5}.banner{background:#fff4d6;border:1px solid #e8c66a;padding:.5rem 1rem}
.pass{color:#17803d}.fail{color:#b42318}.muted{color:#777}pre{white-space:pre-wrap;margin:0;font-size:.8rem}
"""


def _figures(
    benchmark: Mapping[str, Any], comparison: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> list[Any]:
    import plotly.graph_objects as go

    providers = list(benchmark["providers"])
    primary = benchmark.get("primary_metric")
    figures = []
    if primary:
        summaries = [benchmark["metrics"][primary][p] for p in providers]
        scores = [s["score"] for s in summaries]
        upper = [None if s["score"] is None else s["ci95"][1] - s["score"] for s in summaries]
        lower = [None if s["score"] is None else s["score"] - s["ci95"][0] for s in summaries]
        figure = go.Figure(
            go.Bar(x=providers, y=scores, error_y={"type": "data", "array": upper, "arrayminus": lower})
        )
        figure.update_layout(
            title=f"{primary} by provider (95% interval)", yaxis={"range": [0, 1.05]}, height=380
        )
        figures.append(figure)
        costs = [benchmark["cost_analysis"][p]["cost_per_1k_requests"] for p in providers]
        front = [p for p in comparison.get("pareto", []) if p in providers]
        scatter = go.Figure(
            go.Scatter(
                x=costs,
                y=scores,
                mode="markers+text",
                text=providers,
                textposition="top center",
                name="providers",
            )
        )
        if front:
            scatter.add_trace(
                go.Scatter(
                    x=[benchmark["cost_analysis"][p]["cost_per_1k_requests"] for p in front],
                    y=[benchmark["metrics"][primary][p]["score"] for p in front],
                    mode="lines",
                    name="Pareto front",
                    line={"dash": "dot"},
                )
            )
        scatter.update_layout(
            title="cost vs quality", xaxis_title="USD per 1,000 requests", yaxis_title=primary, height=420
        )
        figures.append(scatter)
    latency = go.Figure()
    by_provider: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.get("latency_ms") is not None and row.get("error") is None:
            by_provider[row["provider"]].append(row["latency_ms"])
    for provider in providers:
        latency.add_trace(go.Box(y=by_provider.get(provider, []), name=provider, boxpoints=False))
    latency.update_layout(title="latency (ms)", height=380, showlegend=False)
    figures.append(latency)
    return figures


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _prompt(row: Mapping[str, Any] | None) -> str:
    if not row:
        return ""
    if "input" in row:
        value = row["input"]
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    messages = (row.get("request") or {}).get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else (row.get("request") or {}).get("input", "")
    return content if isinstance(content, str) else orjson.dumps(content).decode()


def _answer(row: Mapping[str, Any]) -> str:
    if row.get("error"):
        return f'<span class="fail">error: {html.escape(str(row["error"].get("message", "")))}</span>'
    output = row.get("output") or {}
    text = output.get("text") or ""
    if output.get("tool_calls"):
        text += "\ntool calls: " + orjson.dumps(output["tool_calls"]).decode()
    marks = []
    for metric, result in (row.get("scores") or {}).items():
        if result.get("score") is None:
            continue
        css = "pass" if result.get("passed") else "fail"
        marks.append(f'<span class="{css}">{html.escape(metric)} {result["score"]:.2f}</span>')
    return f"<pre>{html.escape(text[:2000])}</pre>" + " · ".join(marks)


def _side_by_side(run: RunFiles, providers: Sequence[str]) -> str:
    dataset: dict[str, Mapping[str, Any]] = {}
    file = run.path / "dataset.jsonl"
    if file.is_file():
        for line in file.read_bytes().splitlines():
            if line.strip():
                item = orjson.loads(line)
                dataset[str(item.get("id"))] = item
    answers: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for row in run.rows:
        if row.get("repeat", 0) == 0:
            answers[row["event_id"]][row["provider"]] = row
    rows = []
    for event_id in list(answers)[:MAX_EVENTS]:
        source = dataset.get(event_id)
        expected = (source or {}).get("expected")
        reference = expected if expected is not None else ((source or {}).get("response") or {}).get("text")
        rows.append(
            [
                html.escape(event_id),
                f"<pre>{html.escape(_prompt(source)[:1500])}</pre>",
                f"<pre>{html.escape(str(reference)[:1500]) if reference is not None else ''}</pre>",
                *[_answer(answers[event_id][p]) if p in answers[event_id] else "" for p in providers],
            ]
        )
    note = (
        f'<p class="muted">first {MAX_EVENTS} of {len(answers)} events; all are in detailed_results.jsonl</p>'
        if len(answers) > MAX_EVENTS
        else ""
    )
    return note + _table(["event", "prompt", "reference", *providers], rows)


def write_report(
    run: RunFiles, benchmark: Mapping[str, Any], comparison: Mapping[str, Any], target: str | Path
) -> Path:
    """Write the report; returns its path."""
    figures = _figures(benchmark, comparison, run.rows)
    charts = "".join(
        figure.to_html(full_html=False, include_plotlyjs=(index == 0), config={"displaylogo": False})
        for index, figure in enumerate(figures)
    )
    banner = (
        '<p class="banner">SIMULATED providers: every answer, latency and price in this report comes from '
        "simulated models.</p>"
        if benchmark.get("simulated")
        else ""
    )
    verdict = _table(
        HEADERS, [[html.escape(cell) for cell in row] for row in verdict_rows(benchmark, comparison)]
    )
    notes = segment_lines(comparison) + feedback_lines(benchmark)
    segments = "".join(f"<li>{html.escape(line)}</li>" for line in notes)
    segments = f"<h2>Segments and feedback</h2><ul>{segments}</ul>" if segments else ""
    title = f"bakeoff report · run {benchmark.get('run_id')}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body><h1>{html.escape(title)}</h1>{banner}
<p>{benchmark["total_samples"]} events from {html.escape(str(benchmark.get("dataset")))} · baseline
{html.escape(str(comparison.get("baseline")))} ·
primary metric {html.escape(str(benchmark.get("primary_metric")))} ·
alpha {comparison.get("alpha")} with Holm's correction</p>
<h2>Verdict</h2>{verdict}
{segments}
<h2>Charts</h2>{charts}
<h2>Answers side by side</h2>{_side_by_side(run, benchmark["providers"])}
</body></html>"""
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
