// Monitors and alerts: each configured monitor with its signal window by window, its baseline, the line
// past which it alarms and the alerts it raised (shaded); the alert history with filters.
import { api, withQuery } from "./api.js";
import { timeChart } from "./charts.js";
import { $, el, fillTable, fmt } from "./dom.js";

const seconds = (iso) => (iso ? Date.parse(iso) / 1000 : null);

function baselineText(b) {
  return b ? `${fmt(b.value, 4)} [${fmt(b.lower, 4)}, ${fmt(b.upper, 4)}] over ${fmt(b.n)}` : "–";
}

async function monitorChart(monitor) {
  const box = el("div", { class: "chart-box", "data-monitor": monitor.name });
  $("#monitor-charts").appendChild(box);
  const series = await api(withQuery(`/v1/monitors/${encodeURIComponent(monitor.name)}/series`, { windows: 288 }));
  const hlines = [];
  if (series.baseline) hlines.push({ value: series.baseline.value, label: `baseline ${fmt(series.baseline.value, 4)}`, kind: "baseline" });
  for (const [direction, value] of Object.entries(series.thresholds || {})) {
    hlines.push({ value, label: `alarms ${direction === "up" ? "above" : "below"} ${fmt(value, 4)}`, kind: "threshold" });
  }
  const bands = (series.alerts || []).map((a) => ({ from: seconds(a.window_start) ?? seconds(a.started_at),
    to: seconds(a.resolved_at), label: a.message || a.state }));
  timeChart(box, { title: `${monitor.name}: ${series.signal}`, yLabel: series.signal,
    series: [{ name: series.signal, points: series.points.map((p) => [p.t, p.value]) }],
    bucket: series.window_s || 0, hlines, bands });
  box.appendChild(el("p", { class: "muted" }, series.note
    || `${series.points.length} windows of ${series.window_s} s · ${series.alerts.length} alerts · direction ${series.direction}`));
}

export async function loadMonitors() {
  const { monitors } = await api("/v1/monitors");
  fillTable($("#monitor-table tbody"), monitors, (m) => [m.name, m.config.signal, m.status,
    baselineText(m.baseline), [m.windows_seen ?? "–", "num"], m.alert ? m.alert.message : "–"]);
  $("#monitor-note").textContent = monitors.length ? ""
    : "No monitors: start the collector with `bakeoff serve --monitors FILE`.";
  $("#monitor-charts").replaceChildren();
  await Promise.all(monitors.filter((m) => m.kind === "traffic").map(monitorChart));
  await loadAlerts(monitors);
}

async function loadAlerts(monitors) {
  const select = $("#alert-filters select[name=monitor]");
  const chosen = select.value;
  if (monitors) {
    select.replaceChildren(el("option", { value: "" }, "any"), ...monitors.map((m) => el("option", { value: m.name }, m.name)));
    select.value = chosen;
  }
  const form = Object.fromEntries(new FormData($("#alert-filters")));
  const { alerts } = await api(withQuery("/v1/alerts", form));
  fillTable($("#alert-table tbody"), alerts, (a) => [a.started_at, a.resolved_at, a.monitor,
    [a.state, a.state === "firing" ? "status-error" : ""], a.signal, [fmt(a.value, 4), "num"], [fmt(a.baseline, 4), "num"], a.message]);
  $("#alert-count").textContent = `${alerts.length} alerts`;
}

export function setupMonitors(showError) {
  $("#alert-filters").addEventListener("change", () => loadAlerts(null).catch(showError));
}
