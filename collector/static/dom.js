// Building the page from data. Every text goes in through textContent or an attribute set with
// setAttribute on an element we create: recorded prompts, answers and tags never become markup.

export const $ = (selector, root = document) => root.querySelector(selector);

/** `el("td", {class: "num"}, "text", child, ...)`: an element with attributes and children. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fmt(value, digits = 0) {
  return value === null || value === undefined || Number.isNaN(Number(value)) ? "–" : Number(value).toFixed(digits);
}

export function cell(row, text, className) {
  const td = el("td", { class: className }, text === null || text === undefined || text === "" ? "–" : text);
  row.appendChild(td);
  return td;
}

/** A table body filled with one row per item (`columns(item)` gives the cells: text or [text, class]). */
export function fillTable(body, items, columns, onClick) {
  body.replaceChildren();
  for (const item of items) {
    const row = el("tr", onClick ? { class: "clickable" } : {});
    for (const column of columns(item)) {
      if (Array.isArray(column)) cell(row, column[0], column[1]); else cell(row, column);
    }
    if (onClick) row.addEventListener("click", () => onClick(item, row));
    body.appendChild(row);
  }
  if (!items.length) body.appendChild(el("tr", {}, el("td", { colspan: 20, class: "muted" }, "nothing here")));
}

/** JSON, pretty-printed, in a collapsible block. */
export function jsonBlock(title, value, open = false) {
  return el("details", { class: "json", open }, el("summary", {}, title), el("pre", {}, JSON.stringify(value, null, 2)));
}

function parsedArguments(call) {
  const fn = call.function || call;
  const raw = fn.arguments ?? call.input ?? call.arguments;
  if (typeof raw !== "string") return raw;
  try { return JSON.parse(raw); } catch (_) { return raw; }
}

/** Tool calls (OpenAI's `function` form or Anthropic's `tool_use`) as name plus arguments. */
export function toolCalls(calls) {
  if (!Array.isArray(calls) || !calls.length) return null;
  return el("div", { class: "tool-calls" }, calls.map((call) => {
    const name = (call.function && call.function.name) || call.name || "tool";
    const args = parsedArguments(call);
    return el("div", { class: "tool-call" },
      el("span", { class: "tool-name" }, `${name}(…)`),
      el("pre", {}, typeof args === "string" ? args : JSON.stringify(args, null, 2)));
  }));
}

/** An answer (text, tool calls, error) as a block that wraps. */
export function answer(output, error) {
  const parts = [];
  if (output && output.text) parts.push(el("div", { class: "answer-text" }, output.text));
  if (output) parts.push(toolCalls(output.tool_calls));
  if (error) parts.push(el("div", { class: "status-error" }, typeof error === "string" ? error : JSON.stringify(error)));
  if (!parts.some(Boolean)) parts.push(el("span", { class: "muted" }, "(empty)"));
  return el("div", { class: "answer" }, parts);
}

export function promptOf(request) {
  const messages = (request && (request.messages || request.input)) || [];
  if (typeof messages === "string") return messages;
  const last = [...messages].reverse().find((m) => m && m.role === "user") || messages[messages.length - 1];
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  return (Array.isArray(last.content) ? last.content : []).map((part) => part.text || "").join(" ");
}

/** A `<datalist>` on `input` filled from `/v1/facets/{field}` as the user types (no cap on choice). */
export function typeahead(input, field, fetchValues) {
  const list = el("datalist", { id: `values-${field}-${Math.random().toString(36).slice(2)}` });
  input.after(list);
  input.setAttribute("list", list.id);
  let pending = 0;
  const refresh = async () => {
    const ticket = ++pending;
    const values = await fetchValues(field, input.value);
    if (ticket !== pending) return; // a later keystroke's answer wins
    list.replaceChildren(...values.map((v) => el("option", { value: v.value }, `${v.calls} calls`)));
  };
  input.addEventListener("input", () => refresh().catch(() => {}));
  input.addEventListener("focus", () => refresh().catch(() => {}));
}
