// The bakeoff dashboard: plain JavaScript modules over the collector's /v1 API (no build step, no CDN).
// Text is always set as text (see dom.js), so recorded prompts cannot inject markup.
import { apiKey, setApiKey } from "./api.js";
import { $ } from "./dom.js";
import { loadDatasets, setupDatasets } from "./datasets.js";
import { loadEvents, setupEvents } from "./events.js";
import { loadMonitors, setupMonitors } from "./monitors.js";
import { loadOverview } from "./overview.js";
import { loadRuns, setupRuns } from "./runs.js";

function showError(error) {
  const box = $("#error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

const loaders = {
  overview: () => loadOverview(),
  events: () => loadEvents(showError),
  datasets: () => loadDatasets(showError),
  runs: () => loadRuns(showError),
  monitors: () => loadMonitors(),
};

function show(view) {
  for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== view;
  for (const button of document.querySelectorAll("nav button")) button.classList.toggle("active", button.dataset.view === view);
  showError(null);
  loaders[view]().catch(showError);
}

function start() {
  $("#api-key").value = apiKey();
  $("#api-key").addEventListener("change", (e) => { setApiKey(e.target.value); show("overview"); });
  for (const button of document.querySelectorAll("nav button")) button.addEventListener("click", () => show(button.dataset.view));
  $("#overview-form").addEventListener("change", () => loadOverview().catch(showError));
  setupDatasets(showError);
  setupEvents(showError);
  setupRuns(showError);
  setupMonitors(showError);
  show("overview");
}

// Modules run after the document is parsed.
start();
