"""The verdict as text (a rich table, verdict first), Markdown (for pull-request comments) or JSON."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import orjson

FORMATS = ("text", "json", "markdown")
HEADERS = (
    "provider",
    "score [95% CI]",
    "diff vs baseline [95% CI]",
    "p (Holm)",
    "verdict",
    "$/1k req",
    "p95 ms",
)


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def verdict_rows(benchmark: Mapping[str, Any], comparison: Mapping[str, Any]) -> list[list[str]]:
    """One row per provider on the primary metric: the table every format shows."""
    primary = benchmark.get("primary_metric")
    baseline = comparison.get("baseline")
    rows = []
    for provider in benchmark["providers"]:
        summary = benchmark["metrics"][primary][provider] if primary else {}
        match = next(
            (
                c
                for c in comparison.get("comparisons", [])
                if c["provider"] == provider and c["metric"] == primary
            ),
            None,
        )
        score = (
            f"{_fmt(summary.get('score'))} [{_fmt(summary['ci95'][0])}, {_fmt(summary['ci95'][1])}]"
            if summary
            else "-"
        )
        if provider == baseline:
            diff, p_value, verdict = "(baseline)", "", "baseline"
        elif match is None or match.get("diff") is None:
            diff, p_value, verdict = "-", "-", "no data"
        else:
            low, high = match["ci95"]
            diff = f"{match['diff']:+.3f} [{_fmt(low, '+.3f')}, {_fmt(high, '+.3f')}]"
            p_value = _fmt(match["p_adjusted"], ".3g")
            verdict = match["verdict"]
        cost = benchmark["cost_analysis"][provider]["cost_per_1k_requests"]
        rows.append(
            [
                provider,
                score,
                diff,
                p_value,
                verdict,
                _fmt(cost, ".4f"),
                _fmt(benchmark["latency"][provider]["p95_ms"], ".0f"),
            ]
        )
    return rows


def _headline(
    benchmark: Mapping[str, Any], comparison: Mapping[str, Any], recommendation: Mapping[str, Any] | None
) -> list[str]:
    lines = [
        f"bakeoff verdict · run {benchmark.get('run_id')} · {benchmark['total_samples']} events · "
        f"metric {benchmark.get('primary_metric')} · baseline {comparison.get('baseline')} · "
        f"alpha {comparison.get('alpha')} (Holm)"
        + (f" · margin {comparison['margin']}" if comparison.get("margin") else "")
    ]
    if benchmark.get("simulated"):
        lines.append("SIMULATED providers: every answer, latency and price comes from simulated models")
    if benchmark.get("weighted"):
        lines.append(
            "the sample carries weights: see 'weighted' in benchmark_results.json for whole-traffic estimates"
        )
    if recommendation is not None:
        if recommendation.get("recommended"):
            lines.append(f"recommended: {recommendation['reason']}")
        else:
            lines.append(f"no recommendation: {recommendation.get('reason')}")
    return lines


def render(
    benchmark: Mapping[str, Any],
    comparison: Mapping[str, Any],
    fmt: str = "text",
    recommendation: Mapping[str, Any] | None = None,
    width: int = 140,
) -> str:
    """The verdict in `fmt`."""
    if fmt == "json":
        payload = {"benchmark": benchmark, "comparison": comparison, "recommendation": recommendation}
        return orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode()
    rows = verdict_rows(benchmark, comparison)
    headline = _headline(benchmark, comparison, recommendation)
    if fmt == "markdown":
        out = [f"**{headline[0]}**", ""] + [f"> {line}" for line in headline[1:]]
        out += ["", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        return "\n".join(out) + "\n"
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False)
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("provider", "verdict") else "right")
    style = {"better": "green", "worse": "red", "non-inferior": "cyan", "baseline": "bold"}
    for row in rows:
        verdict = f"[{style[row[4]]}]{row[4]}[/]" if row[4] in style else row[4]
        table.add_row(*(escape(cell) for cell in row[:4]), verdict, *row[5:])
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    console.print(escape(headline[0]), highlight=False, soft_wrap=True)
    console.print(table)
    for line in headline[1:]:
        console.print(escape(line), highlight=False, soft_wrap=True)
    return buffer.getvalue()


def render_cross_run(cross: Mapping[str, Any], fmt: str = "text") -> str:
    """The comparison of two runs, one line per provider and metric."""
    header = (
        f"new run {cross.get('new_run')} vs old run {cross.get('old_run')} (alpha {cross['alpha']}, Holm)"
    )
    lines = []
    for c in cross["comparisons"]:
        if c.get("diff") is None:
            continue
        mark = "significant" if c["significant"] else "n.s."
        lines.append(
            f"{c['provider']} · {c['metric']}: {c['diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] "
            f"p={_fmt(c.get('p_adjusted'), '.3g')} {mark} "
            f"({c['test']}, n={c['n']}{', paired' if c.get('paired') else ''})"
        )
    if fmt == "markdown":
        return f"**{header}**\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    return "\n".join([header, *lines])
