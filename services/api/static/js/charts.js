// Line charts drawn by hand in SVG: nice ticks, one polyline per series (decimated to the pixel width),
// a hover read-out, redrawn when the container's width changes.
import { fmtValue, h } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = ["#4f46e5", "#0d9488", "#d97706", "#db2777", "#2563eb", "#65a30d"];
const HEIGHT = 190;
const PAD = { left: 52, right: 14, top: 12, bottom: 28 };

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 4) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((v) => v >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function extent(series, axis) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const one of series) {
    for (const p of one.points) { lo = Math.min(lo, p[axis]); hi = Math.max(hi, p[axis]); }
    if (axis === 1 && one.reference !== undefined) { lo = Math.min(lo, one.reference); hi = Math.max(hi, one.reference); }
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return axis === 0 ? [lo - 1, hi + 1] : [lo - Math.abs(lo || 1) * 0.1, hi + Math.abs(hi || 1) * 0.1];
  if (axis === 1) { const pad = (hi - lo) * 0.06; return [lo - pad, hi + pad]; }
  return [lo, hi];
}

/** At most two points (min and max) per pixel column, in order: a long series costs what the width allows. */
function decimate(points, toX, width) {
  if (points.length <= width * 2) return points;
  const out = [];
  let column = null;
  let lo = null;
  let hi = null;
  const flush = () => { if (lo) out.push(...(lo === hi ? [lo] : lo[0] <= hi[0] ? [lo, hi] : [hi, lo])); };
  for (const p of points) {
    const c = Math.round(toX(p[0]));
    if (c !== column) { flush(); column = c; lo = hi = p; continue; }
    if (p[1] < lo[1]) lo = p;
    if (p[1] > hi[1]) hi = p;
  }
  flush();
  return out;
}

/** A chart in a <figure>: `update(series)` with series = [{name, color, points: [[x, y], ...], reference?}]. */
export class LineChart {
  constructor({ title, key, xLabel = "step" }) {
    this.title = title;
    this.xLabel = xLabel;
    this.series = [];
    this.svg = s("svg", { class: "chart-svg", role: "img", "aria-label": title, height: HEIGHT });
    this.latest = h("span.chart-latest");
    this.readout = h("div.chart-readout");
    this.legend = h("div.chart-legend");
    this.el = h("figure.chart", { dataset: { chart: key } },
      h("figcaption.chart-head", h("span.chart-title", title), this.latest), this.svg, this.legend, this.readout);
    this.observer = new ResizeObserver(() => this.draw());
    this.observer.observe(this.el);
    this.svg.addEventListener("mousemove", (e) => this.hover(e));
    this.svg.addEventListener("mouseleave", () => this.hover(null));
  }

  update(series) {
    this.series = series;
    this.draw();
  }

  destroy() { this.observer.disconnect(); }

  draw() {
    const width = Math.max(200, Math.floor(this.svg.getBoundingClientRect().width || this.el.clientWidth || 400));
    const plotW = width - PAD.left - PAD.right;
    const plotH = HEIGHT - PAD.top - PAD.bottom;
    const [x0, x1] = extent(this.series, 0);
    const [y0, y1] = extent(this.series, 1);
    const toX = (x) => PAD.left + ((x - x0) / (x1 - x0)) * plotW;
    const toY = (y) => PAD.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
    this.scale = { toX, x0, x1, plotW };
    this.svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    const parts = [];
    for (const t of ticks(y0, y1)) {
      if (t < y0 || t > y1) continue;
      parts.push(s("line", { class: "grid", x1: PAD.left, x2: width - PAD.right, y1: toY(t), y2: toY(t) }));
      parts.push(s("text", { class: "tick", x: PAD.left - 6, y: toY(t) + 4, "text-anchor": "end" }, fmtValue(t)));
    }
    for (const t of ticks(x0, x1, Math.max(2, Math.floor(plotW / 90)))) {
      if (t < x0 || t > x1) continue;
      parts.push(s("text", { class: "tick", x: toX(t), y: HEIGHT - 8, "text-anchor": "middle" }, fmtValue(t)));
    }
    parts.push(s("line", { class: "axis", x1: PAD.left, x2: width - PAD.right, y1: PAD.top + plotH, y2: PAD.top + plotH }));
    for (const one of this.series) {
      if (one.reference !== undefined) {
        parts.push(s("line", { class: "reference", stroke: one.color, x1: PAD.left, x2: width - PAD.right,
          y1: toY(one.reference), y2: toY(one.reference) }));
        continue;
      }
      const shown = decimate(one.points, toX, plotW);
      const coords = shown.map((p) => `${toX(p[0]).toFixed(1)},${toY(p[1]).toFixed(1)}`).join(" ");
      parts.push(s("polyline", { class: "line", stroke: one.color, points: coords, "data-series": one.name }));
      const last = one.points[one.points.length - 1];
      if (last) parts.push(s("circle", { class: "dot", fill: one.color, cx: toX(last[0]), cy: toY(last[1]), r: 3 }));
    }
    this.cursor = s("line", { class: "cursor", y1: PAD.top, y2: PAD.top + plotH, x1: -10, x2: -10 });
    parts.push(this.cursor);
    this.svg.replaceChildren(...parts);
    this.drawLegend();
  }

  drawLegend() {
    const lines = this.series.filter((one) => one.points.length);
    const last = lines.length === 1 ? lines[0].points[lines[0].points.length - 1] : null;
    this.latest.textContent = last ? fmtValue(last[1]) : "";
    const items = this.series.length > 1 ? this.series : [];
    this.legend.replaceChildren(...items.map((one) => {
      const swatch = h(`span.swatch${one.reference !== undefined ? ".swatch-ref" : ""}`);
      swatch.style.background = one.color;
      return h("span.legend-item", swatch, one.name);
    }));
  }

  hover(event) {
    if (!event || !this.scale || !this.series.some((one) => one.points.length)) {
      this.readout.textContent = "";
      if (this.cursor) this.cursor.setAttribute("x1", -10), this.cursor.setAttribute("x2", -10);
      return;
    }
    const box = this.svg.getBoundingClientRect();
    const { toX, x0, x1, plotW } = this.scale;
    const x = x0 + ((event.clientX - box.left - PAD.left) / plotW) * (x1 - x0);
    const values = this.series.filter((one) => one.points.length).map((one) => {
      let best = one.points[0];
      for (const p of one.points) if (Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
      return [one.name, best];
    });
    const at = values[0][1][0];
    this.cursor.setAttribute("x1", toX(at));
    this.cursor.setAttribute("x2", toX(at));
    this.readout.textContent = `${this.xLabel} ${at}: ` + values.map(([n, p]) => `${n} ${fmtValue(p[1])}`).join(", ");
  }
}
