// Events: text search and every filter (with typeahead), a page of events, one event's detail.
import { api, newestOnly, withQuery } from "./api.js";
import { $, answer, el, fillTable, fmt, jsonBlock, promptOf, typeahead } from "./dom.js";

const state = { offset: 0, limit: 25, filters: {} };

export async function facetValues(field, text) {
  return (await api(withQuery(`/v1/facets/${field}`, { q: text, limit: 50 }))).values;
}

export function setupEvents(showError) {
  for (const field of ["tag", "model", "provider", "project"]) {
    typeahead($(`#filters input[name=${field}]`), field, facetValues);
  }
  $("#filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(e.target));
    // datetime-local has no zone: the page speaks UTC, as the table does.
    for (const key of ["since", "until"]) if (data[key]) data[key] = `${data[key]}:00Z`;
    state.filters = data;
    state.offset = 0;
    loadEvents().catch(showError);
  });
  $("#prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); loadEvents().catch(showError); });
  $("#next").addEventListener("click", () => { state.offset += state.limit; loadEvents().catch(showError); });
  $("#close-detail").addEventListener("click", () => { $("#detail").hidden = true; });
}

const searchApi = newestOnly();

export async function loadEvents(showError) {
  const page = await searchApi(withQuery("/v1/search", { ...state.filters, limit: state.limit, offset: state.offset }));
  if (!page) return;
  fillTable($("#event-table tbody"), page.events, (event) => [
    event.ts.replace("T", " ").slice(0, 19), `${event.provider}/${event.model}`, event.tags.join(", "),
    [event.status, event.status === "error" ? "status-error" : ""], [fmt(event.latency_ms, 1), "num"],
    [`${event.usage.input_tokens ?? "–"} / ${event.usage.output_tokens ?? "–"}`, "num"], [promptOf(event.request), "prompt"],
  ], (event) => openEvent(event.id).catch(showError || console.error));
  for (const [row, event] of [...$("#event-table tbody").children].map((r, i) => [r, page.events[i]])) {
    if (event) row.dataset.id = event.id;
  }
  $("#event-count").textContent = `${page.total} events`;
  const last = Math.min(state.offset + state.limit, page.total);
  $("#page").textContent = page.total ? `${state.offset + 1}–${last} of ${page.total}` : "no events";
  $("#prev").disabled = state.offset === 0;
  $("#next").disabled = last >= page.total;
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.map(([name, value]) => [el("dt", {}, name),
    el("dd", {}, value === null || value === undefined || value === "" ? "–" : value)]));
}

export async function openEvent(id) {
  const event = await api(`/v1/events/${encodeURIComponent(id)}`);
  $("#detail-title").textContent = `${event.provider}/${event.model}`;
  const usage = event.usage || {};
  $("#detail-facts").replaceChildren(facts([
    ["id", event.id], ["time", event.ts], ["project", event.project], ["api", event.api],
    ["status", event.status], ["stream", String(event.stream)],
    ["latency", `${fmt(event.latency_ms, 1)} ms`], ["first token", event.ttft_ms === null ? null : `${fmt(event.ttft_ms, 1)} ms`],
    ["tokens in / out", `${usage.input_tokens ?? "–"} / ${usage.output_tokens ?? "–"}`],
    ["trace id", event.trace_id], ["span id", event.span_id],
  ]));
  $("#detail-tags").replaceChildren(...(event.tags.length ? event.tags.map((t) => el("span", { class: "tag" }, t)) : [el("span", { class: "muted" }, "none")]));
  const attributes = Object.entries(event.attributes || {});
  $("#detail-attributes").replaceChildren(attributes.length ? facts(attributes.map(([k, v]) => [k, String(v)])) : el("span", { class: "muted" }, "none"));
  $("#detail-answer").replaceChildren(answer(event.response, event.error && `${event.error.type}: ${event.error.message ?? ""}`));
  $("#detail-json").replaceChildren(jsonBlock("Request", event.request, true), jsonBlock("Response", event.response),
    jsonBlock("Usage and error", { usage: event.usage, error: event.error }));
  const list = $("#detail-feedback");
  list.replaceChildren(...event.feedback.map((f) => el("li", {}, `${f.score}${f.comment ? ` — ${f.comment}` : ""}`)));
  if (!event.feedback.length) list.appendChild(el("li", { class: "muted" }, "none"));
  $("#detail").hidden = false;
}
