// Overview: totals, charts over the chosen range and bucket, by model and by tag, top tags, feedback.
import { api, withQuery } from "./api.js";
import { timeChart } from "./charts.js";
import { $, fillTable, fmt } from "./dom.js";

function series(points, key, name) {
  return { name, points: points.map((p) => [p.t, p[key]]) };
}

function grouped(groups) {
  return groups.map((g) => ({ name: g.key, points: g.points.map((p) => [p.t, p.calls]) }));
}

export async function loadOverview() {
  const form = Object.fromEntries(new FormData($("#overview-form")));
  const scope = { span: form.span };
  const [stats, overall, byModel, byTag] = await Promise.all([
    api(withQuery("/v1/stats", scope)),
    api(withQuery("/v1/stats/series", { ...scope, bucket: form.bucket })),
    api(withQuery("/v1/stats/series", { ...scope, bucket: form.bucket, by: "model", totals: "false" })),
    api(withQuery("/v1/stats/series", { ...scope, bucket: form.bucket, by: "tag", totals: "false" })),
  ]);
  $("#range-note").textContent = `${stats.since || "first event"} – ${stats.until || "now"} · bucket ${overall.bucket_s} s`;
  const p = overall.points;
  const all = stats.models;
  const weighted = (key) => {
    const calls = all.reduce((sum, m) => sum + (m[key] === null ? 0 : m.calls), 0);
    return calls ? all.reduce((sum, m) => sum + (m[key] ?? 0) * m.calls, 0) / calls : null;
  };
  $("#total-calls").textContent = stats.total;
  $("#total-errors").textContent = stats.errors;
  $("#error-rate").textContent = stats.total ? `${(100 * stats.errors / stats.total).toFixed(1)}%` : "–";
  $("#model-count").textContent = all.length;
  $("#latency-card").textContent = `${fmt(weighted("p50_ms"))} / ${fmt(weighted("p95_ms"))}`;
  $("#feedback-card").textContent = stats.feedback.count ? `${fmt(stats.feedback.mean, 2)} (${stats.feedback.count})` : "–";
  const bucket = overall.bucket_s;
  timeChart($("#chart-calls"), { title: "Calls and errors per bucket", yLabel: "calls",
    series: [series(p, "calls", "calls"), series(p, "errors", "errors")], bars: true, bucket });
  timeChart($("#chart-latency"), { title: "Latency", yLabel: "milliseconds",
    series: [series(p, "p50_ms", "p50"), series(p, "p95_ms", "p95")], bucket });
  timeChart($("#chart-ttft"), { title: "Time to first token (streams)", yLabel: "milliseconds",
    series: [series(p, "ttft_p50_ms", "p50")], bucket });
  timeChart($("#chart-tokens"), { title: "Tokens per bucket", yLabel: "tokens",
    series: [series(p, "input_tokens", "input"), series(p, "output_tokens", "output")], bucket });
  timeChart($("#chart-cost-time"), { title: "Cost per bucket (list prices)", yLabel: "USD",
    series: [series(p, "cost_usd", "cost")], bucket });
  const cost = p.reduce((sum, point) => sum + (point.cost_usd || 0), 0);
  const unpriced = p.reduce((sum, point) => sum + (point.unpriced_calls || 0), 0);
  $("#cost-card").textContent = `$${cost.toFixed(cost >= 100 ? 0 : 4)}`;
  $("#cost-note").textContent = unpriced ? `${unpriced} calls of unpriced models left out` : "";
  timeChart($("#chart-models"), { title: "Calls by model", yLabel: "calls", series: grouped(byModel.groups), bucket });
  timeChart($("#chart-tags"), { title: "Calls by tag", yLabel: "calls", series: grouped(byTag.groups), bucket });
  fillTable($("#models tbody"), all, (m) => [m.provider, m.model, [m.calls, "num"], [m.errors, "num"],
    [fmt(m.p50_ms, 1), "num"], [fmt(m.p95_ms, 1), "num"], [fmt(m.ttft_p50_ms, 1), "num"],
    [`${m.input_tokens ?? "–"} / ${m.output_tokens ?? "–"}`, "num"],
    [m.feedback === null ? "–" : `${fmt(m.feedback, 2)} (${m.feedback_count})`, "num"]]);
  fillTable($("#top-tags tbody"), stats.tags, (t) => [t.tag, [t.calls, "num"]]);
  fillTable($("#feedback-table tbody"), stats.feedback.latest, (f) => [f.ts, f.event_id, [fmt(f.score, 2), "num"], f.comment]);
  $("#feedback-summary").textContent = stats.feedback.count
    ? `${stats.feedback.count} scores, mean ${fmt(stats.feedback.mean, 2)}, ${stats.feedback.low} below 0.5` : "no feedback in this range";
}
