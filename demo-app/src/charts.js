// Vital signs over time as SVG line charts, built with DOM calls (no
// innerHTML). Each chart is an image with a title and a description for
// screen readers, plus the same numbers in a table under "Show values".
import { h, s } from "./dom.js";
import { day } from "./fhir.js";

const W = 440;
const H = 190;
const PAD = { left: 48, right: 16, top: 14, bottom: 34 };

function niceBounds(values) {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    lo -= Math.max(1, Math.abs(lo) * 0.05);
    hi += Math.max(1, Math.abs(hi) * 0.05);
  }
  const span = hi - lo;
  return [Math.floor(lo - span * 0.1), Math.ceil(hi + span * 0.1)];
}

/**
 * A line chart. `series`: [{ name, cls, points: [{ t: ms, v: number, label: string }] }].
 * `unit` labels the y axis.
 */
export function lineChart({ id, title, unit, series }) {
  const all = series.flatMap((x) => x.points);
  const times = all.map((p) => p.t);
  const [v0, v1] = niceBounds(all.map((p) => p.v));
  let t0 = Math.min(...times);
  let t1 = Math.max(...times);
  if (t0 === t1) {
    t0 -= 86400000 * 15;
    t1 += 86400000 * 15;
  }
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - ((v - v0) / (v1 - v0)) * (H - PAD.top - PAD.bottom);
  const latest = series
    .map((sr) => {
      const last = sr.points[sr.points.length - 1];
      return last ? `${sr.name} ${last.v} ${unit} on ${day(last.label)}` : "";
    })
    .filter(Boolean)
    .join("; ");
  const desc = `${new Set(times).size} readings in ${unit} from ${day(new Date(Math.min(...times)).toISOString())} to ${day(new Date(Math.max(...times)).toISOString())}. Latest: ${latest}.`;
  const grid = [];
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const v = v0 + ((v1 - v0) * i) / ticks;
    const yy = y(v);
    grid.push(s("line", { x1: PAD.left, x2: W - PAD.right, y1: yy, y2: yy, class: "grid" }));
    grid.push(s("text", { x: PAD.left - 6, y: yy + 4, class: "tick", "text-anchor": "end" }, String(Math.round(v * 10) / 10)));
  }
  const first = new Date(Math.min(...times)).toISOString();
  const last = new Date(Math.max(...times)).toISOString();
  grid.push(s("text", { x: PAD.left, y: H - 10, class: "tick", "text-anchor": "start" }, day(first)));
  if (last !== first) grid.push(s("text", { x: W - PAD.right, y: H - 10, class: "tick", "text-anchor": "end" }, day(last)));
  const lines = series.map((sr) => {
    const pts = sr.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    return s(
      "g",
      { class: `series ${sr.cls}` },
      pts.length > 1 ? s("polyline", { points: pts.join(" "), fill: "none" }) : null,
      sr.points.map((p) =>
        s("circle", { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 4 }, s("title", {}, `${sr.name}: ${p.v} ${unit}, ${day(p.label)}`)),
      ),
    );
  });
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${id}-title ${id}-desc`, class: "chart", preserveAspectRatio: "xMidYMid meet" },
    s("title", { id: `${id}-title` }, title),
    s("desc", { id: `${id}-desc` }, desc),
    grid,
    lines,
  );
  const legend = series.length > 1
    ? h("ul", { class: "legend" }, series.map((sr) => h("li", { class: sr.cls }, h("span", { class: "swatch", "aria-hidden": "true" }), sr.name)))
    : null;
  const rows = [];
  const byTime = new Map();
  for (const sr of series) for (const p of sr.points) {
    if (!byTime.has(p.t)) byTime.set(p.t, { label: p.label, values: {} });
    byTime.get(p.t).values[sr.name] = p.v;
  }
  for (const [, row] of [...byTime.entries()].sort((a, b) => a[0] - b[0])) {
    rows.push(h("tr", {}, h("td", {}, day(row.label)), series.map((sr) => h("td", {}, row.values[sr.name] ?? ""))));
  }
  const table = h(
    "details",
    { class: "values" },
    h("summary", {}, "Show values"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Date"), series.map((sr) => h("th", { scope: "col" }, `${sr.name} (${unit})`)))), h("tbody", {}, rows)),
  );
  return h("figure", { class: "chart-card", "data-chart": id },
    h("figcaption", {}, h("strong", {}, title), " ", h("span", { class: "muted" }, `${unit} · ${byTime.size} ${byTime.size === 1 ? "reading" : "readings"}`)),
    svg, legend, table);
}
