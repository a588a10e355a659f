"""`bakeoff report RUN --html FILE`: one self-contained HTML file (plotly.js inlined once, no network).

Sections: the verdict table; the recommendation; every metric with its weighted estimate; segments and
feedback; score by provider with 95% intervals; cost vs quality with the Pareto front; latency
distributions; the skipped rows with their reasons; and the answers side by side per event (tool calls
as calls, the reference whatever its form), with a "disagreements only" switch that needs no script.
Everything from the run is escaped: prompts and answers are whatever the traffic held.
"""

from __future__ import annotations

import contextlib
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
.pass{color:#17803d}.fail{color:#b42318}.muted{color:#777}
pre{white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word;margin:0;font-size:.8rem}
td,th,li{overflow-wrap:anywhere}table.answers{table-layout:fixed}
.recommendation{background:#f0fdf4;border:1px solid #bbf7d0;padding:.5rem 1rem}
.tool-name{font-family:ui-monospace,monospace;font-weight:600;font-size:.8rem}
#only-disagreements:checked ~ table tr.agree{display:none}
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


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    classes: Sequence[str] | None = None,
    css: str = "",
) -> str:
    """A table of cells already escaped; `classes` gives each row a class."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    marks = classes or [""] * len(rows)
    body = "".join(
        f'<tr class="{mark}">' + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row, mark in zip(rows, marks, strict=True)
    )
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _number(value: Any, spec: str = ".3f") -> str:
    return format(value, spec) if isinstance(value, int | float) else "&ndash;"


def _bounds(ci: Any) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return ""
    return f"[{_number(ci[0])}, {_number(ci[1])}]"


def _metrics_table(benchmark: Mapping[str, Any]) -> str:
    """Every metric (primary and secondary) of every provider, with the weighted estimate for the
    whole traffic when the dataset has weights."""
    rows = []
    for metric, by_provider in (benchmark.get("metrics") or {}).items():
        for provider in benchmark["providers"]:
            summary = by_provider.get(provider) or {}
            weighted = summary.get("weighted") or {}
            rows.append(
                [
                    html.escape(str(metric))
                    + (" (primary)" if metric == benchmark.get("primary_metric") else ""),
                    html.escape(str(provider)),
                    f"{_number(summary.get('score'))} {_bounds(summary.get('ci95'))}",
                    f"{summary.get('passed', '&ndash;')} / {summary.get('total', '&ndash;')}",
                    f"{_number(weighted.get('score'))} {_bounds(weighted.get('ci95'))}"
                    if weighted
                    else "&ndash;",
                ]
            )
    headers = ["metric", "provider", "score [95% CI]", "passed / total", "weighted estimate [95% CI]"]
    return _table(headers, rows)


def _recommendation(benchmark: Mapping[str, Any], comparison: Mapping[str, Any]) -> str:
    from bakeoff.replay.stats.recommend import Constraints, recommend

    found = recommend(benchmark, comparison, Constraints())
    head = (
        f"<strong>Recommended: {html.escape(str(found['recommended']))}</strong>"
        if found.get("recommended")
        else "<strong>No recommendation</strong>"
    )
    excluded = "".join(
        f"<li>{html.escape(str(p))}: {html.escape(str(why))}</li>"
        for p, why in (found.get("excluded") or {}).items()
    )
    excluded = f"<p>Not recommended:</p><ul>{excluded}</ul>" if excluded else ""
    reason = html.escape(str(found.get("reason") or ""))
    return f'<div class="recommendation">{head}<p>{reason}</p>{excluded}</div>'


def _skipped(run: RunFiles) -> str:
    rows = [[html.escape(s.event_id), "every provider", html.escape(s.reason)] for s in run.meta.skipped_rows]
    rows += [
        [html.escape(s.event_id), html.escape(s.provider), html.escape(s.reason)] for s in run.meta.skipped
    ]
    if not rows:
        return '<p class="muted">No row was skipped.</p>'
    return f"<p>{len(rows)} skipped</p>" + _table(["event", "provider", "reason"], rows)


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


def _tool_calls(calls: Any) -> str:
    """Tool calls (OpenAI's `function` form, Anthropic's `tool_use`, or a reference's name/arguments)
    as a name and its arguments, pretty-printed."""
    if not isinstance(calls, list):
        return ""
    parts = []
    for call in calls:
        if not isinstance(call, Mapping):
            parts.append(f"<pre>{html.escape(str(call))}</pre>")
            continue
        inner = call.get("function")
        function: Mapping[str, Any] = inner if isinstance(inner, Mapping) else call
        name = function.get("name") or call.get("name") or "tool"
        arguments = function.get("arguments", call.get("input", call.get("arguments")))
        if isinstance(arguments, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                arguments = orjson.loads(arguments)
        shown = (
            arguments
            if isinstance(arguments, str)
            else orjson.dumps(arguments, option=orjson.OPT_INDENT_2).decode()
        )
        parts.append(
            f'<div class="tool-call"><span class="tool-name">{html.escape(str(name))}(…)</span>'
            f"<pre>{html.escape(shown[:2000])}</pre></div>"
        )
    return "".join(parts)


def _reference(reference: Any) -> str:
    """A reference answer: text, a tool-call reference, or a recorded response."""
    if reference is None:
        return '<span class="muted">&ndash;</span>'
    if isinstance(reference, str):
        return f"<pre>{html.escape(reference[:1500])}</pre>"
    if isinstance(reference, Mapping):
        output = reference.get("output")
        answer: Mapping[str, Any] = output if isinstance(output, Mapping) else reference
        text = answer.get("text")
        calls = answer.get("tool_calls")
        if text or calls:
            shown = f"<pre>{html.escape(str(text)[:1500])}</pre>" if text else ""
            return shown + _tool_calls(calls)
    return f"<pre>{html.escape(orjson.dumps(reference, option=orjson.OPT_INDENT_2).decode()[:1500])}</pre>"


def _answer_key(row: Mapping[str, Any] | None) -> tuple[str, str]:
    """What two answers must share to agree: the text (case and spacing aside) and the tool calls."""
    if row is None:
        return ("<missing>", "")
    if row.get("error"):
        return ("<error>", "")
    output = row.get("output") or {}
    text = " ".join(str(output.get("text") or "").split()).lower()
    return text, orjson.dumps(output.get("tool_calls")).decode()


def _answer(row: Mapping[str, Any]) -> str:
    if row.get("error"):
        return f'<span class="fail">error: {html.escape(str(row["error"].get("message", "")))}</span>'
    output = row.get("output") or {}
    text = output.get("text") or ""
    calls = _tool_calls(output.get("tool_calls"))
    marks = []
    for metric, result in (row.get("scores") or {}).items():
        if result.get("score") is None:
            continue
        css = "pass" if result.get("passed") else "fail"
        marks.append(f'<span class="{css}">{html.escape(metric)} {result["score"]:.2f}</span>')
    shown = f"<pre>{html.escape(text[:2000])}</pre>" if text or not calls else ""
    return shown + calls + " · ".join(marks)


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
    rows, agreeing = [], []
    for event_id in list(answers)[:MAX_EVENTS]:
        source = dataset.get(event_id)
        expected = (source or {}).get("expected")
        reference = expected if expected is not None else (source or {}).get("response")
        rows.append(
            [
                html.escape(event_id),
                f"<pre>{html.escape(_prompt(source)[:1500])}</pre>",
                _reference(reference),
                *[_answer(answers[event_id][p]) if p in answers[event_id] else "" for p in providers],
            ]
        )
        agreeing.append(len({_answer_key(answers[event_id].get(p)) for p in providers}) == 1)
    note = (
        f'<p class="muted">first {MAX_EVENTS} of {len(answers)} events; all are in detailed_results.jsonl</p>'
        if len(answers) > MAX_EVENTS
        else ""
    )
    differ = agreeing.count(False)
    switch = (
        '<input type="checkbox" id="only-disagreements"> '
        f'<label for="only-disagreements">disagreements only ({differ} of {len(rows)} events: '
        "the providers' answers differ)</label>"
    )
    classes = ["agree" if same else "differ" for same in agreeing]
    table = _table(["event", "prompt", "reference", *providers], rows, classes, "answers")
    return f"<section>{note}{switch}{table}</section>"


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
<h2>Recommendation</h2>{_recommendation(benchmark, comparison)}
<h2>Every metric</h2>{_metrics_table(benchmark)}
{segments}
<h2>Charts</h2>{charts}
<h2>Skipped rows</h2>{_skipped(run)}
<h2>Answers side by side</h2>{_side_by_side(run, benchmark["providers"])}
</body></html>"""
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
