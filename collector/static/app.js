// The bakeoff dashboard: plain JavaScript over the collector's /v1 API. Text is always set with
// textContent (never innerHTML), so recorded prompts cannot inject markup.
"use strict";

const state = { offset: 0, limit: 25, filters: {} };
const $ = (selector) => document.querySelector(selector);

function apiKey() { return localStorage.getItem("bakeoff-api-key") || ""; }

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (apiKey()) headers.Authorization = `Bearer ${apiKey()}`;
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let reason = response.statusText;
    try { reason = (await response.json()).error || reason; } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${reason}`);
  }
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

function showError(error) {
  const box = $("#error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fmt(value, digits = 0) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function promptOf(event) {
  const messages = (event.request && (event.request.messages || event.request.input)) || [];
  if (typeof messages === "string") return messages;
  const last = [...messages].reverse().find((m) => m && m.role === "user") || messages[messages.length - 1];
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  return (last.content || []).map((part) => part.text || "").join(" ");
}

async function loadOverview() {
  const stats = await api("/v1/stats");
  $("#total-calls").textContent = stats.total;
  $("#total-errors").textContent = stats.errors;
  $("#error-rate").textContent = stats.total ? `${(100 * stats.errors / stats.total).toFixed(1)}%` : "–";
  $("#model-count").textContent = stats.models.length;
  const body = $("#models tbody");
  body.replaceChildren();
  for (const m of stats.models) {
    const row = document.createElement("tr");
    cell(row, m.provider); cell(row, m.model); cell(row, m.calls, "num"); cell(row, m.errors, "num");
    cell(row, fmt(m.p50_ms, 1), "num"); cell(row, fmt(m.p95_ms, 1), "num");
    cell(row, `${m.input_tokens ?? "–"} / ${m.output_tokens ?? "–"}`, "num");
    cell(row, m.feedback === null ? "–" : fmt(m.feedback, 2), "num");
    body.appendChild(row);
  }
  const bars = $("#hourly");
  bars.replaceChildren();
  const peak = Math.max(1, ...stats.hourly.map((h) => h.calls));
  for (const h of stats.hourly) {
    const bar = document.createElement("div");
    bar.style.height = `${(100 * h.calls) / peak}%`;
    bar.title = `${h.hour}: ${h.calls} calls`;
    bars.appendChild(bar);
  }
  fillSelect("tag", stats.tags.map((t) => t.tag));
  fillSelect("model", stats.models.map((m) => m.model));
}

function fillSelect(name, values) {
  const select = document.querySelector(`#filters select[name=${name}]`);
  const current = select.value;
  select.replaceChildren(new Option("any", ""));
  for (const value of [...new Set(values)]) select.appendChild(new Option(value, value));
  select.value = current;
}

async function loadEvents() {
  const params = new URLSearchParams({ limit: state.limit, offset: state.offset });
  for (const [key, value] of Object.entries(state.filters)) if (value) params.set(key, value);
  const page = await api(`/v1/events?${params}`);
  const body = $("#event-table tbody");
  body.replaceChildren();
  for (const event of page.events) {
    const row = document.createElement("tr");
    row.className = "clickable";
    row.dataset.id = event.id;
    cell(row, event.ts.replace("T", " ").slice(0, 19));
    cell(row, `${event.provider}/${event.model}`);
    cell(row, event.tags.join(", "));
    cell(row, event.status, event.status === "error" ? "status-error" : "");
    cell(row, fmt(event.latency_ms, 1), "num");
    cell(row, `${event.usage.input_tokens ?? "–"} / ${event.usage.output_tokens ?? "–"}`, "num");
    cell(row, promptOf(event), "prompt");
    row.addEventListener("click", () => openEvent(event.id).catch(showError));
    body.appendChild(row);
  }
  $("#event-count").textContent = `${page.total} events`;
  const last = Math.min(state.offset + state.limit, page.total);
  $("#page").textContent = page.total ? `${state.offset + 1}–${last} of ${page.total}` : "no events";
  $("#prev").disabled = state.offset === 0;
  $("#next").disabled = last >= page.total;
}

async function openEvent(id) {
  const event = await api(`/v1/events/${encodeURIComponent(id)}`);
  $("#detail-title").textContent = `${event.provider}/${event.model} · ${event.ts}`;
  $("#detail-request").textContent = JSON.stringify(event.request, null, 2);
  $("#detail-response").textContent = JSON.stringify(
    { ...event.response, usage: event.usage, latency_ms: event.latency_ms, ttft_ms: event.ttft_ms, error: event.error },
    null, 2);
  const list = $("#detail-feedback");
  list.replaceChildren();
  for (const f of event.feedback) {
    const item = document.createElement("li");
    item.textContent = `${f.score}${f.comment ? ` — ${f.comment}` : ""}`;
    list.appendChild(item);
  }
  if (!event.feedback.length) list.appendChild(Object.assign(document.createElement("li"), { textContent: "none" }));
  $("#detail").hidden = false;
}

async function loadDatasets() {
  const { datasets } = await api("/v1/datasets");
  const body = $("#dataset-table tbody");
  body.replaceChildren();
  for (const d of datasets) {
    const row = document.createElement("tr");
    cell(row, d.name); cell(row, d.strategy); cell(row, d.size, "num"); cell(row, d.population, "num");
    cell(row, d.params.weighting); cell(row, d.created);
    const link = document.createElement("a");
    link.href = `/v1/datasets/${encodeURIComponent(d.name)}`;
    link.textContent = "JSON lines";
    cell(row, "").replaceChildren(link);
    body.appendChild(row);
  }
}

async function createSample(form) {
  const data = Object.fromEntries(new FormData(form));
  const body = { name: data.name, strategy: data.strategy, by: data.by, n: Number(data.n), seed: Number(data.seed) };
  const result = await api("/v1/samples", { method: "POST", body: JSON.stringify(body) });
  $("#sample-result").textContent =
    `dataset ${result.dataset}: ${result.size} of ${result.population} events (${result.strategy})`;
  await loadDatasets();
}

async function loadRuns() {
  const { runs } = await api("/v1/runs");
  const body = $("#run-table tbody");
  body.replaceChildren();
  for (const r of runs) {
    const row = document.createElement("tr");
    cell(row, r.run_id); cell(row, r.created); cell(row, r.dataset); cell(row, r.total_samples, "num");
    cell(row, r.baseline); cell(row, r.providers.join(", "));
    row.addEventListener("click", () => openRun(r.run_id).catch(showError));
    body.appendChild(row);
  }
  $("#run-detail").hidden = true;
}

function interval(ci, digits, signed) {
  const f = (v) => (v === null || v === undefined ? "–" : (signed && v >= 0 ? "+" : "") + Number(v).toFixed(digits));
  return `[${f(ci[0])}, ${f(ci[1])}]`;
}

async function openRun(id) {
  const { benchmark, comparison } = await api(`/v1/runs/${encodeURIComponent(id)}`);
  const metric = benchmark.primary_metric;
  $("#run-title").textContent = `Run ${id}: ${metric} against ${comparison.baseline}`;
  $("#run-note").textContent = (benchmark.simulated ? "Simulated providers. " : "") +
    `${benchmark.total_samples} events · alpha ${comparison.alpha} with Holm's correction`;
  const body = $("#verdict-table tbody");
  body.replaceChildren();
  for (const provider of benchmark.providers) {
    const summary = benchmark.metrics[metric][provider];
    const c = comparison.comparisons.find((x) => x.provider === provider && x.metric === metric);
    const row = document.createElement("tr");
    cell(row, provider);
    cell(row, `${fmt(summary.score, 3)} ${interval(summary.ci95, 3, false)}`, "num");
    if (provider === comparison.baseline) { cell(row, "baseline"); cell(row, ""); cell(row, "baseline"); }
    else if (!c || c.diff === null) { cell(row, "–"); cell(row, "–"); cell(row, "no data"); }
    else {
      cell(row, `${c.diff >= 0 ? "+" : ""}${fmt(c.diff, 3)} ${interval(c.ci95, 3, true)}`, "num");
      cell(row, Number(c.p_adjusted).toPrecision(3), "num");
      cell(row, c.verdict, `verdict-${c.verdict}`);
    }
    cell(row, fmt(benchmark.cost_analysis[provider].cost_per_1k_requests, 4), "num");
    cell(row, fmt(benchmark.latency[provider].p95_ms), "num");
    body.appendChild(row);
  }
  $("#run-detail").hidden = false;
}

const loaders = { overview: loadOverview, events: loadEvents, datasets: loadDatasets, runs: loadRuns };

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.view === view);
  showError(null);
  loaders[view]().catch(showError);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#api-key").value = apiKey();
  $("#api-key").addEventListener("change", (e) => { localStorage.setItem("bakeoff-api-key", e.target.value); show("overview"); });
  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => show(button.dataset.view));
  $("#filters").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filters = Object.fromEntries(new FormData(e.target));
    state.offset = 0;
    loadEvents().catch(showError);
  });
  $("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadEvents().catch(showError); });
  $("#next").addEventListener("click", () => { state.offset += state.limit; loadEvents().catch(showError); });
  $("#close-detail").addEventListener("click", () => { $("#detail").hidden = true; });
  $("#sample-form").addEventListener("submit", (e) => { e.preventDefault(); createSample(e.target).catch(showError); });
  show("overview");
});
