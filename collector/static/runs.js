// Runs: the list, and one run as completely as its stored results say (every metric, comparisons,
// segments and recommendation when present, charts, skipped rows) with the answers side by side.
import { api, newestOnly, withQuery } from "./api.js";
import { barChart, timeChart } from "./charts.js";
import { $, answer, el, fillTable, fmt } from "./dom.js";

const current = { id: null, candidate: null, outcome: "all", tag: "", group: false };

const history = { runs: [] };

export async function loadRuns(showError) {
  const [{ runs }, scores] = await Promise.all([api("/v1/runs"), api("/v1/scores")]);
  fillTable($("#run-table tbody"), runs, (r) => [r.run_id, r.created, r.dataset, [r.total_samples, "num"], r.baseline,
    r.providers.join(", ")], (r) => openRun(r.run_id).catch(showError));
  $("#run-detail").hidden = true;
  history.runs = scores.runs;
  const options = () => history.runs.map((r) => el("option", { value: r.run_id }, `${r.run_id} (${r.created})`));
  $("#compare-a").replaceChildren(...options());
  $("#compare-b").replaceChildren(...options());
  const n = history.runs.length;
  if (n) { $("#compare-a").value = history.runs[Math.max(0, n - 2)].run_id; $("#compare-b").value = history.runs[n - 1].run_id; }
  const providers = [...new Set(history.runs.flatMap((r) => r.providers))];
  $("#history-provider").replaceChildren(...providers.map((p) => el("option", { value: p }, p)));
  $("#run-compare").hidden = n < 1;
  showCompare();
  showHistoryMetrics();
}

const scoreText = (s) => (s && s.score !== null && s.score !== undefined ? `${fmt(s.score, 3)} ${interval(s.ci95, 3, false)}` : "–");

function showCompare() {
  const a = history.runs.find((r) => r.run_id === $("#compare-a").value);
  const b = history.runs.find((r) => r.run_id === $("#compare-b").value);
  if (!a || !b) { fillRows($("#compare-table tbody"), []); return; }
  const metrics = [...new Set([...Object.keys(a.scores), ...Object.keys(b.scores)])];
  const rows = metrics.flatMap((m) => {
    const providers = [...new Set([...Object.keys(a.scores[m] || {}), ...Object.keys(b.scores[m] || {})])];
    return providers.map((p) => {
      const sa = (a.scores[m] || {})[p], sb = (b.scores[m] || {})[p];
      const both = sa && sb && typeof sa.score === "number" && typeof sb.score === "number";
      return [m, p, [scoreText(sa), "num"], [scoreText(sb), "num"], [both ? signed(sb.score - sa.score, 3) : "–", "num"]];
    });
  });
  fillRows($("#compare-table tbody"), rows);
}

function showHistoryMetrics() {
  const provider = $("#history-provider").value;
  const metrics = [...new Set(history.runs.filter((r) => r.providers.includes(provider)).flatMap((r) => Object.keys(r.scores)))];
  const select = $("#history-metric");
  const chosen = select.value;
  select.replaceChildren(...metrics.map((m) => el("option", { value: m }, m)));
  if (metrics.includes(chosen)) select.value = chosen;
  showHistory();
}

function showHistory() {
  const provider = $("#history-provider").value, metric = $("#history-metric").value;
  const points = history.runs.filter((r) => ((r.scores[metric] || {})[provider] || {}).score !== undefined)
    .map((r) => [Date.parse(r.created) / 1000, r.scores[metric][provider].score]);
  timeChart($("#chart-history"), { title: `${provider}: ${metric} by run`, yLabel: metric, xLabel: "run created (UTC)",
    series: [{ name: provider, points }] });
}

function interval(ci, digits, signed) {
  if (!Array.isArray(ci)) return "";
  const f = (v) => (v === null || v === undefined ? "–" : (signed && v >= 0 ? "+" : "") + Number(v).toFixed(digits));
  return `[${f(ci[0])}, ${f(ci[1])}]`;
}

const signed = (v, digits) => (v === null || v === undefined ? "–" : `${v >= 0 ? "+" : ""}${fmt(v, digits)}`);
const pValue = (p) => (p === null || p === undefined ? "–" : Number(p).toPrecision(3));

function verdictRows(benchmark, comparison, metric) {
  return benchmark.providers.map((provider) => {
    const summary = (benchmark.metrics[metric] || {})[provider] || {};
    const c = (comparison.comparisons || []).find((x) => x.provider === provider && x.metric === metric);
    const cost = (benchmark.cost_analysis || {})[provider] || {};
    const latency = (benchmark.latency || {})[provider] || {};
    const base = [provider, [`${fmt(summary.score, 3)} ${interval(summary.ci95, 3, false)}`, "num"]];
    const compared = provider === comparison.baseline ? ["baseline", "", "baseline"]
      : !c || c.diff === null || c.diff === undefined ? ["–", "–", "no data"]
        : [[`${signed(c.diff, 3)} ${interval(c.ci95, 3, true)}`, "num"], [pValue(c.p_adjusted), "num"],
          [c.verdict || (c.significant ? "significant" : "inconclusive"), `verdict-${c.verdict}`]];
    return [...base, ...compared, [fmt(cost.cost_per_1k_requests, 4), "num"], [fmt(latency.p95_ms), "num"]];
  });
}

function fillRows(body, rows) {
  fillTable(body, rows, (r) => r);
}

function recommendation(run, benchmark, comparison) {
  const found = comparison.recommendation || benchmark.recommendation || run.recommendation;
  if (!found) return el("p", { class: "muted" }, "No recommendation stored with this run: `bakeoff recommend RUN_DIR` computes one.");
  return el("div", { class: "recommendation" }, el("strong", {}, `Recommended: ${found.recommended ?? "none"}`),
    el("p", {}, found.reason ?? ""),
    Object.keys(found.excluded || {}).length
      ? el("ul", {}, Object.entries(found.excluded).map(([p, why]) => el("li", {}, `${p}: ${why}`))) : null);
}

export async function openRun(id) {
  const { run, benchmark, comparison } = await api(`/v1/runs/${encodeURIComponent(id)}`);
  const metric = benchmark.primary_metric;
  const metrics = Object.keys(benchmark.metrics || {});
  $("#run-title").textContent = `Run ${id}: ${metric} against ${comparison.baseline}`;
  $("#run-note").textContent = [benchmark.simulated ? "Simulated providers." : "", `${benchmark.total_samples} events`,
    `alpha ${comparison.alpha} with Holm's correction`, run.status ? `status ${run.status}` : "",
    run.spend !== null && run.spend !== undefined ? `spent $${fmt(run.spend, 4)}` : ""].filter(Boolean).join(" · ");
  $("#run-recommendation").replaceChildren(recommendation(run, benchmark, comparison));
  fillRows($("#verdict-table tbody"), verdictRows(benchmark, comparison, metric));
  fillRows($("#metrics-table tbody"), metrics.flatMap((m) => benchmark.providers.map((p) => {
    const s = benchmark.metrics[m][p] || {};
    const w = s.weighted || {};
    return [m, p, [`${fmt(s.score, 3)} ${interval(s.ci95, 3, false)}`, "num"], [`${s.passed ?? "–"} / ${s.total ?? "–"}`, "num"],
      [w.score === undefined ? "–" : `${fmt(w.score, 3)} ${interval(w.ci95, 3, false)}`, "num"]];
  })));
  fillRows($("#comparisons-table tbody"), (comparison.comparisons || []).map((c) => [c.metric, c.provider,
    [`${signed(c.diff, 3)} ${interval(c.ci95, 3, true)}`, "num"], [pValue(c.p_value), "num"], [pValue(c.p_adjusted), "num"],
    c.test, [c.verdict ?? (c.significant ? "significant" : "–"), `verdict-${c.verdict}`],
    c.non_inferior === undefined ? "–" : String(c.non_inferior), [c.n, "num"]]));
  const segments = comparison.segments || [];
  $("#segments").hidden = !segments.length;
  fillRows($("#segments-table tbody"), segments.map((s) => [s.segment, s.provider, s.metric,
    [`${signed(s.diff, 3)} ${interval(s.ci95, 3, true)}`, "num"], [pValue(s.p_adjusted), "num"], String(s.significant), [s.n, "num"]]));
  fillRows($("#costs-table tbody"), benchmark.providers.map((p) => {
    const c = (benchmark.cost_analysis || {})[p] || {};
    const l = (benchmark.latency || {})[p] || {};
    return [p, [fmt(c.total_cost, 4), "num"], [fmt(c.cost_per_1k_requests, 4), "num"], [fmt(l.p50_ms), "num"],
      [fmt(l.p95_ms), "num"], [fmt(l.p99_ms), "num"], [fmt(l.ttft_p50_ms), "num"], [(benchmark.errors || {})[p] ?? "–", "num"]];
  }));
  const primary = benchmark.metrics[metric] || {};
  barChart($("#chart-scores"), { title: `${metric} by provider (95% interval)`, xLabel: metric,
    items: benchmark.providers.map((p) => ({ label: p, value: (primary[p] || {}).score, lo: ((primary[p] || {}).ci95 || [])[0], hi: ((primary[p] || {}).ci95 || [])[1] })) });
  barChart($("#chart-cost"), { title: "Cost per 1k requests", xLabel: "USD",
    items: benchmark.providers.map((p) => ({ label: p, value: ((benchmark.cost_analysis || {})[p] || {}).cost_per_1k_requests })) });
  barChart($("#chart-latency-run"), { title: "Latency p95", xLabel: "milliseconds",
    items: benchmark.providers.map((p) => ({ label: p, value: ((benchmark.latency || {})[p] || {}).p95_ms })) });
  const skipped = [...(run.skipped_rows || []).map((s) => [s.event_id, "all", s.reason]),
    ...(run.skipped || []).map((s) => [s.event_id, s.provider, s.reason])];
  fillRows($("#skipped-table tbody"), skipped);
  $("#skipped-count").textContent = `${skipped.length} skipped`;
  const select = $("#candidate");
  select.replaceChildren(...benchmark.providers.filter((p) => p !== comparison.baseline).map((p) => el("option", { value: p }, p)));
  Object.assign(current, { id, candidate: select.value || null, outcome: "all", tag: "" });
  $("#run-detail").hidden = false;
  await loadAnswers();
}

function answerCell(side, metric) {
  if (!side) return el("td", { class: "muted" }, "–");
  const score = ((side.scores || {})[metric] || {}).score;
  return el("td", {}, answer(side.output, side.error), el("div", { class: "muted" }, `${metric}: ${fmt(score, 3)}`));
}

function referenceCell(reference) {
  if (reference === null || reference === undefined) return el("td", { class: "muted" }, "–");
  if (typeof reference === "string") return el("td", {}, el("div", { class: "answer-text" }, reference));
  return el("td", {}, answer(reference.output || reference, null));
}

const answersApi = newestOnly();

export async function loadAnswers() {
  if (!current.id || !current.candidate) { $("#answers").hidden = true; return; }
  const page = await answersApi(withQuery(`/v1/runs/${encodeURIComponent(current.id)}/answers`,
    { candidate: current.candidate, outcome: current.outcome, tag: current.tag, limit: 200 }));
  if (!page) return;
  for (const button of document.querySelectorAll("#outcomes button")) {
    const name = button.dataset.outcome;
    button.textContent = `${button.dataset.label} (${page.counts[name] ?? 0})`;
    button.classList.toggle("active", name === current.outcome);
  }
  const tagSelect = $("#answer-tag");
  tagSelect.replaceChildren(el("option", { value: "" }, "any tag"), ...page.tags.map((t) => el("option", { value: t }, t)));
  tagSelect.value = current.tag;
  $("#answers-head-baseline").textContent = `Baseline: ${page.baseline}`;
  $("#answers-head-candidate").textContent = `Candidate: ${page.candidate}`;
  const body = $("#answers-table tbody");
  body.replaceChildren();
  const groups = new Map();
  for (const row of page.rows) {
    const key = current.group ? (row.tags[0] ?? "(no tag)") : "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  for (const [key, rows] of groups) {
    if (current.group) body.appendChild(el("tr", { class: "group" }, el("th", { colspan: 4 }, `tag ${key}: ${rows.length}`)));
    for (const row of rows) {
      body.appendChild(el("tr", { "data-event": row.event_id, class: `outcome ${row.outcomes.join(" ")}` },
        el("td", {}, el("div", { class: "answer-text" }, row.prompt), el("div", { class: "muted" }, `${row.event_id} · ${row.outcomes.join(", ")}`)),
        referenceCell(row.reference), answerCell(row.baseline, page.metric), answerCell(row.candidate, page.metric)));
    }
  }
  if (!page.rows.length) body.appendChild(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "no answers here")));
  $("#answers-count").textContent = `${page.total} of ${page.counts.all} events`;
  $("#answers").hidden = false;
}

export function setupRuns(showError) {
  $("#compare-a").addEventListener("change", showCompare);
  $("#compare-b").addEventListener("change", showCompare);
  $("#history-provider").addEventListener("change", showHistoryMetrics);
  $("#history-metric").addEventListener("change", showHistory);
  $("#candidate").addEventListener("change", (e) => { current.candidate = e.target.value; loadAnswers().catch(showError); });
  $("#answer-tag").addEventListener("change", (e) => { current.tag = e.target.value; loadAnswers().catch(showError); });
  $("#group-by-tag").addEventListener("change", (e) => { current.group = e.target.checked; loadAnswers().catch(showError); });
  for (const button of document.querySelectorAll("#outcomes button")) {
    button.addEventListener("click", () => { current.outcome = button.dataset.outcome; loadAnswers().catch(showError); });
  }
}
