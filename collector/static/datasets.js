// Datasets: every sample option, the list, one dataset's rows with weights and strata, the download.
import { api, download, withQuery } from "./api.js";
import { $, el, fillTable, fmt, typeahead } from "./dom.js";
import { facetValues } from "./events.js";

export function setupDatasets(showError) {
  for (const field of ["tag", "model", "provider"]) typeahead($(`#sample-form input[name=${field}]`), field, facetValues);
  $("#sample-form").addEventListener("submit", (e) => { e.preventDefault(); createSample(e.target).catch(showError); });
}

async function createSample(form) {
  const data = Object.fromEntries(new FormData(form));
  const filters = {};
  for (const key of ["tag", "model", "provider", "status", "project"]) if (data[key]) filters[key] = data[key];
  for (const key of ["since", "until"]) if (data[key]) filters[key] = `${data[key]}:00Z`;
  const body = { name: data.name, strategy: data.strategy, by: data.by, allocation: data.allocation,
    n: Number(data.n), seed: Number(data.seed), replace: data.replace === "on", filters };
  const result = await api("/v1/samples", { method: "POST", body: JSON.stringify(body) });
  $("#sample-result").textContent =
    `dataset ${result.dataset}: ${result.size} of ${result.population} events (${result.strategy})`;
  await loadDatasets();
}

export async function loadDatasets(showError) {
  const { datasets } = await api("/v1/datasets");
  const body = $("#dataset-table tbody");
  fillTable(body, datasets, (d) => [d.name, d.strategy, [d.size, "num"], [d.population, "num"],
    d.params.by ?? "–", d.params.weighting ?? d.weighting ?? "–", d.created, ""]);
  [...body.children].forEach((row, i) => {
    const d = datasets[i];
    if (!d) return;
    const rowsButton = el("button", { type: "button", class: "link" }, "rows");
    rowsButton.addEventListener("click", () => openDataset(d.name).catch(showError));
    const save = el("button", { type: "button", class: "link download" }, "JSON lines");
    save.addEventListener("click", () => download(`/v1/datasets/${encodeURIComponent(d.name)}`, `${d.name}.jsonl`).catch(showError));
    row.lastChild.replaceChildren(rowsButton, " ", save);
  });
}

export async function openDataset(name, offset = 0) {
  const page = await api(withQuery(`/v1/datasets/${encodeURIComponent(name)}/rows`, { limit: 50, offset }));
  $("#dataset-title").textContent = `Dataset ${name}: ${page.total} rows`;
  fillTable($("#strata-table tbody"), page.strata, (s) => [s.stratum ?? "(none)", [s.rows, "num"], [fmt(s.weight, 1), "num"]]);
  fillTable($("#rows-table tbody"), page.rows, (r) => [[r.position, "num"], r.event_id, [fmt(r.weight, 3), "num"],
    r.stratum, `${r.provider ?? "–"}/${r.model ?? "–"}`, (r.tags || []).join(", "), [r.prompt, "prompt"],
    r.expected === null ? "" : JSON.stringify(r.expected)]);
  $("#dataset-detail").hidden = false;
}
