// Charts as SVG drawn here (no library, no request): time series with labelled axes and a legend,
// and horizontal bars with interval whiskers. Labels are SVG text nodes, never markup.

const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#2f5bea", "#c2410c", "#17803d", "#9333ea", "#0891b2", "#b45309", "#db2777", "#4b5563", "#65a30d"];

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((m) => m >= value);
}

function short(value) {
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function timeLabel(seconds, span) {
  const iso = new Date(seconds * 1000).toISOString();
  return span > 2 * 86400 ? iso.slice(5, 10) : span > 3600 * 6 ? iso.slice(5, 16).replace("T", " ") : iso.slice(11, 16);
}

function axes(group, box, yMax, yLabel, xLabel) {
  const { left, top, width, height } = box;
  group.appendChild(svg("line", { x1: left, y1: top + height, x2: left + width, y2: top + height, class: "axis" }));
  group.appendChild(svg("line", { x1: left, y1: top, x2: left, y2: top + height, class: "axis" }));
  for (let i = 0; i <= 4; i++) {
    const y = top + height - (i / 4) * height;
    group.appendChild(svg("line", { x1: left, y1: y, x2: left + width, y2: y, class: "grid" }));
    group.appendChild(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, short((yMax * i) / 4)));
  }
  group.appendChild(svg("text", { x: 14, y: top + height / 2, transform: `rotate(-90 14 ${top + height / 2})`,
    "text-anchor": "middle", class: "axis-label" }, yLabel));
  group.appendChild(svg("text", { x: left + width / 2, y: top + height + 36, "text-anchor": "middle", class: "axis-label" }, xLabel));
}

function legend(container, series) {
  const box = document.createElement("div");
  box.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = COLORS[i % COLORS.length];
    item.append(swatch, document.createTextNode(s.name));
    box.appendChild(item);
  });
  container.appendChild(box);
}

/**
 * Lines over time. `series`: [{name, points: [[epochSeconds, value|null], ...]}]; `bars` draws the
 * first series as bars (counts per bucket), `bucket` is the bucket width in seconds. `hlines`:
 * [{value, label}] drawn across (a baseline, a threshold); `bands`: [{from, to, label}] shaded spans
 * of time (alerts; `to` null: still open).
 */
export function timeChart(container, { title, series, yLabel, xLabel = "time (UTC)", bars = false, bucket = 0,
  hlines = [], bands = [] }) {
  container.replaceChildren();
  const heading = document.createElement("h3");
  heading.textContent = title;
  container.appendChild(heading);
  const all = series.flatMap((s) => s.points.filter((p) => p[1] !== null && p[1] !== undefined));
  if (!all.length) {
    container.appendChild(Object.assign(document.createElement("p"), { className: "muted", textContent: "no data in this range" }));
    return;
  }
  const width = 560, height = 220;
  const box = { left: 58, top: 10, width: width - 70, height: height - 60 };
  const xs = all.map((p) => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) + (bars ? bucket : 0);
  const yMax = niceMax(Math.max(...all.map((p) => p[1]), ...hlines.map((h) => h.value).filter(Number.isFinite)));
  const x = (t) => box.left + (x1 === x0 ? box.width / 2 : ((t - x0) / (x1 - x0)) * box.width);
  const y = (v) => box.top + box.height - (v / yMax) * box.height;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  axes(chart, box, yMax, yLabel, xLabel);
  for (const t of [x0, (x0 + x1) / 2, x1]) {
    chart.appendChild(svg("text", { x: x(t), y: box.top + box.height + 16, "text-anchor": "middle", class: "tick" }, timeLabel(t, x1 - x0)));
  }
  for (const band of bands) {
    const from = Math.max(x0, Math.min(x1, band.from)), to = Math.max(x0, Math.min(x1, band.to ?? x1));
    const rect = svg("rect", { x: x(from), y: box.top, width: Math.max(2, x(to) - x(from)), height: box.height, class: "band" });
    rect.appendChild(svg("title", {}, band.label));
    chart.appendChild(rect);
  }
  for (const line of hlines.filter((h) => Number.isFinite(h.value) && h.value >= 0 && h.value <= yMax)) {
    chart.appendChild(svg("line", { x1: box.left, y1: y(line.value), x2: box.left + box.width, y2: y(line.value), class: `hline ${line.kind || ""}` }));
    chart.appendChild(svg("text", { x: box.left + box.width - 4, y: y(line.value) - 4, "text-anchor": "end", class: "hline-label" }, line.label));
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const points = s.points.filter((p) => p[1] !== null && p[1] !== undefined);
    if (bars && i === 0) {
      const w = Math.max(1, (bucket / Math.max(1, x1 - x0)) * box.width - 1);
      for (const [t, v] of points) {
        const bar = svg("rect", { x: x(t), y: y(v), width: w, height: box.top + box.height - y(v), fill: color, class: "bar" });
        bar.appendChild(svg("title", {}, `${new Date(t * 1000).toISOString()}: ${v}`));
        chart.appendChild(bar);
      }
      return;
    }
    const d = points.map(([t, v], k) => `${k ? "L" : "M"}${x(t + bucket / 2).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.appendChild(svg("path", { d, stroke: color, fill: "none", "stroke-width": 2, class: "line" }));
    for (const [t, v] of points) {
      const dot = svg("circle", { cx: x(t + bucket / 2), cy: y(v), r: 2.5, fill: color });
      dot.appendChild(svg("title", {}, `${s.name} ${new Date(t * 1000).toISOString()}: ${short(v)}`));
      chart.appendChild(dot);
    }
  });
  container.appendChild(chart);
  if (series.length > 1 || series[0].name) legend(container, series);
}

/** Horizontal bars, one per item {label, value, lo, hi}, with interval whiskers when given. */
export function barChart(container, { title, items, xLabel }) {
  container.replaceChildren();
  const heading = document.createElement("h3");
  heading.textContent = title;
  container.appendChild(heading);
  const values = items.flatMap((d) => [d.value, d.hi]).filter((v) => typeof v === "number");
  if (!values.length) {
    container.appendChild(Object.assign(document.createElement("p"), { className: "muted", textContent: "no data" }));
    return;
  }
  const row = 26, width = 560, labelWidth = 170;
  const height = items.length * row + 50;
  const xMax = niceMax(Math.max(...values));
  const box = { left: labelWidth, top: 8, width: width - labelWidth - 20, height: items.length * row };
  const x = (v) => box.left + (Math.max(0, v) / xMax) * box.width;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  chart.appendChild(svg("line", { x1: box.left, y1: box.top + box.height, x2: box.left + box.width, y2: box.top + box.height, class: "axis" }));
  for (let i = 0; i <= 4; i++) {
    const v = (xMax * i) / 4;
    chart.appendChild(svg("text", { x: x(v), y: box.top + box.height + 14, "text-anchor": "middle", class: "tick" }, short(v)));
  }
  chart.appendChild(svg("text", { x: box.left + box.width / 2, y: height - 6, "text-anchor": "middle", class: "axis-label" }, xLabel));
  items.forEach((d, i) => {
    const top = box.top + i * row;
    const label = d.label.length > 24 ? `${d.label.slice(0, 23)}…` : d.label;
    chart.appendChild(svg("text", { x: box.left - 6, y: top + 17, "text-anchor": "end", class: "tick" }, label));
    if (typeof d.value !== "number") return;
    const bar = svg("rect", { x: box.left, y: top + 5, width: Math.max(1, x(d.value) - box.left), height: row - 10,
      fill: COLORS[i % COLORS.length], class: "bar" });
    bar.appendChild(svg("title", {}, `${d.label}: ${short(d.value)}`));
    chart.appendChild(bar);
    if (typeof d.lo === "number" && typeof d.hi === "number") {
      chart.appendChild(svg("line", { x1: x(d.lo), y1: top + row / 2, x2: x(d.hi), y2: top + row / 2, class: "whisker" }));
    }
  });
  container.appendChild(chart);
}
