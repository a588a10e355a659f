"""The verdict as text (a rich table, verdict first), Markdown (for pull-request comments) or JSON.

Every metric is shown, the primary first, then the error rate; each row carries its `n` (the paired
events the comparison used) and the interval the verdict was decided with. A metric that does not apply
to some answers (a text metric on a tool-call reference) says how many it left out, never scores them 0.
Segments that differ significantly are listed under the table: "worse on tag:refunds (-0.31 [-0.45, -0.17])".
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import orjson

FORMATS = ("text", "json", "markdown")
HEADERS = (
    "provider",
    "metric",
    "score [95% CI]",
    "n",
    "diff vs baseline [CI]",
    "p (Holm)",
    "verdict",
    "$/1k req",
    "p95 ms",
)
ERROR_METRIC = "error_rate"


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def format_p(value: float | None) -> str:
    """A p-value as printed: three significant digits, "< 0.001" below that, never "0"."""
    if value is None:
        return "-"
    return "< 0.001" if value < 0.001 else format(value, ".3g")


def _interval(bounds: Any, spec: str = ".3f") -> str:
    low, high = bounds
    return f"[{_fmt(low, spec)}, {_fmt(high, spec)}]"


def _score_cell(summary: Mapping[str, Any]) -> str:
    if not summary or summary.get("score") is None:
        return "n/a" + (f" ({summary['not_applicable']} excluded)" if summary.get("not_applicable") else "")
    cell = f"{_fmt(summary['score'])} {_interval(summary['ci95'])}"
    if summary.get("not_applicable"):
        cell += f" ({summary['not_applicable']} n/a, excluded)"
    return cell


def _error_cell(summary: Mapping[str, Any] | None) -> str:
    if not summary or summary.get("rate") is None:
        return "-"
    return f"{_fmt(summary['rate'])} {_interval(summary['ci95'])} ({summary['errors']}/{summary['total']})"


def verdict_rows(benchmark: Mapping[str, Any], comparison: Mapping[str, Any]) -> list[list[str]]:
    """One row per provider and metric (the primary first, then the others, then the error rate)."""
    primary = benchmark.get("primary_metric")
    metrics = list(benchmark.get("metrics", {}))
    ordered: list[str] = ([str(primary)] if primary in metrics else []) + [m for m in metrics if m != primary]
    ordered.append(ERROR_METRIC)
    baseline = comparison.get("baseline")
    both = [*comparison.get("comparisons", []), *comparison.get("error_rate_comparisons", [])]
    found = {(c["provider"], c["metric"]): c for c in both}
    rows = []
    for provider in benchmark["providers"]:
        for index, metric in enumerate(ordered):
            if metric == ERROR_METRIC:
                score = _error_cell(benchmark.get(ERROR_METRIC, {}).get(provider))
            else:
                score = _score_cell(benchmark["metrics"][metric][provider])
            match = found.get((provider, metric))
            if provider == baseline:
                n, diff, p_value, verdict = "", "(baseline)", "", "baseline"
            elif match is None or match.get("diff") is None:
                n = str(match["n"]) if match else "0"
                diff, p_value, verdict = "-", "-", "no data"
            else:
                n = str(match["n"])
                diff = f"{match['diff']:+.3f} {_interval(match['ci95'], spec='+.3f')}"
                p_value, verdict = format_p(match["p_adjusted"]), str(match["verdict"])
            first = index == 0
            cost = benchmark["cost_analysis"][provider]["cost_per_1k_requests"] if first else None
            p95 = benchmark["latency"][provider]["p95_ms"] if first else None
            rows.append(
                [
                    provider if first else "",
                    metric,
                    score,
                    n,
                    diff,
                    p_value,
                    verdict,
                    _fmt(cost, ".4f") if first else "",
                    _fmt(p95, ".0f") if first else "",
                ]
            )
    return rows


def segment_lines(comparison: Mapping[str, Any]) -> list[str]:
    """The segments where a candidate differs significantly: "sim-x: worse on tag:refunds (...)"."""
    lines = []
    for s in comparison.get("segments", []):
        if not s.get("significant") or s.get("diff") is None:
            continue
        word = "better" if s["diff"] > 0 else "worse"
        lines.append(
            f"{s['provider']}: {word} on {s['segment']} ({s['diff']:+.2f} "
            f"{_interval(s['ci95'], spec='+.2f')}) · {s['metric']}, n={s['n']}, "
            f"p (Holm) {format_p(s['p_adjusted'])}"
        )
    return lines


def feedback_lines(benchmark: Mapping[str, Any]) -> list[str]:
    """How well each metric agrees with the users' feedback (Spearman's rho with its interval)."""
    agreement = benchmark.get("feedback_agreement") or {}
    lines = []
    for metric, figures in (agreement.get("metrics") or {}).items():
        if figures.get("spearman") is None:
            continue
        lines.append(
            f"{metric} vs user feedback on {agreement.get('provider')}'s answers: Spearman "
            f"{figures['spearman']:+.2f} {_interval(figures['ci95'], spec='+.2f')}, n={figures['n']}"
        )
    return lines


def _headline(
    benchmark: Mapping[str, Any], comparison: Mapping[str, Any], recommendation: Mapping[str, Any] | None
) -> list[str]:
    lines = [
        f"bakeoff verdict · run {benchmark.get('run_id')} · {benchmark['total_samples']} events · "
        f"metric {benchmark.get('primary_metric')} · baseline {comparison.get('baseline')} · "
        f"alpha {comparison.get('alpha')} (Holm; each interval at its Holm level)"
        + (f" · margin {comparison['margin']:g}" if comparison.get("margin") else "")
    ]
    if benchmark.get("simulated"):
        lines.append("SIMULATED providers: every answer, latency and price comes from simulated models")
    if benchmark.get("unpriced_models"):
        lines.append(
            "warning: no price known for "
            + ", ".join(benchmark["unpriced_models"])
            + " (cost null; set price: in the config)"
        )
    if benchmark.get("weighted"):
        lines.append(
            "the sample carries weights: see 'weighted' in benchmark_results.json for whole-traffic estimates"
        )
    lines += segment_lines(comparison)
    lines += feedback_lines(benchmark)
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
    width: int = 160,
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
        table.add_column(header, justify="left" if header in ("provider", "metric", "verdict") else "right")
    style = {"better": "green", "worse": "red", "non-inferior": "cyan", "baseline": "bold"}
    verdict_at = HEADERS.index("verdict")
    for row in rows:
        verdict = row[verdict_at]
        shown = f"[{style[verdict]}]{verdict}[/]" if verdict in style else verdict
        table.add_row(*(escape(cell) for cell in row[:verdict_at]), shown, *row[verdict_at + 1 :])
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
    if not cross.get("same_dataset", True):
        header += " · DIFFERENT DATASETS" + (
            ": unpaired differences, --unpaired given"
            if cross.get("unpaired_allowed")
            else ": unpaired differences are not called significant (--unpaired to test them)"
        )
    lines = []
    for c in cross["comparisons"]:
        if c.get("diff") is None:
            continue
        mark = (
            "significant"
            if c["significant"]
            else c.get("verdict")
            if c.get("verdict") == "not comparable"
            else "n.s."
        )
        label = f", {c['label']}" if c.get("label") else ""
        lines.append(
            f"{c['provider']} · {c['metric']}: {c['diff']:+.3f} {_interval(c['ci95'], spec='+.3f')} "
            f"p={format_p(c.get('p_adjusted'))} {mark} "
            f"({c['test']}, n={c['n']}{', paired' if c.get('paired') else ''}{label})"
        )
    if fmt == "markdown":
        return f"**{header}**\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    return "\n".join([header, *lines])
