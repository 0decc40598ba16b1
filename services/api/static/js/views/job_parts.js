// Pieces of the job page, from the job, its events and its metric points. The live ones (progress, pipeline
// steps) are built once and updated in place, so a click or keyboard focus survives the stream's updates.
import { LineChart, PALETTE } from "../charts.js";
import {
  TERMINAL, badge, card, elapsed, fmtDuration, fmtNum, fmtTime, fmtValue, h, progressBar, setFacts, setText, updateBar,
} from "../ui.js";

const MILESTONES = new Set(["created", "queued", "started", "stage", "merged", "succeeded", "failed", "cancelled", "expired"]);
/** Loss names in the order the charts show them; any other loss follows, "total" is left out. */
const LOSS_ORDER = ["embedding", "attention", "hidden", "prediction", "loss"];
const LOSS_TITLES = { loss: "fine-tune loss", embedding: "embedding loss", attention: "attention loss",
  hidden: "hidden-state loss", prediction: "prediction loss" };

function roleOf(job, childId) {
  const children = (job.params && job.params.children) || {};
  return Object.keys(children).find((role) => children[role] === childId) || "";
}

/** Created, queued, started, each stage as it began, merged, the final status: with times. */
export function timeline(job, events) {
  const steps = [];
  const seen = new Set();
  for (const e of events) {
    if (!MILESTONES.has(e.kind)) continue;
    const stage = e.kind === "stage" ? (e.data || {}).stage : null;
    const label = stage ? `${stage}${e.data.job ? ` (${roleOf(job, e.data.job)})` : ""}` : e.kind;
    if (seen.has(label)) continue;
    seen.add(label);
    steps.push({ label, ts: e.ts, final: TERMINAL.has(e.kind) });
  }
  if (!seen.has(job.status) && TERMINAL.has(job.status)) steps.push({ label: job.status, ts: job.finished_at, final: true });
  const last = steps.length - 1;
  return h("ol.timeline", { id: "timeline" }, steps.map((step, i) => {
    const state = step.final ? `final-${step.label}` : i === last && !TERMINAL.has(job.status) ? "current" : "done";
    return h(`li.tl-${state}`, h("span.tl-dot"), h("span.tl-label", step.label), h("span.tl-time", fmtTime(step.ts)));
  }));
}

/** Shard states (queued, running, done or stopped) as the events say; null when there are none to draw. */
function shardStates(total, events) {
  if (!total || total > 400) return null;
  const state = new Array(total).fill("queued");
  for (const e of events) {
    const shard = (e.data || {}).shard;
    if (shard === undefined || shard >= total) continue;
    if (e.kind === "shard_started") state[shard] = "running";
    else if (e.kind === "shard_done") state[shard] = "done";
    else if (e.kind === "shard_stopped" || e.kind === "shard_skipped") state[shard] = "stopped";
  }
  return state;
}

/** The progress card: bar, percentage, rate/ETA/... facts and shard squares, updated in place. */
export class ProgressCard {
  constructor() {
    this.bar = progressBar(0, 0, "queued");
    this.pct = h("span.pct");
    this.facts = h("dl.facts.facts-compact", { id: "progress-facts" });
    this.shards = h("div.shards", { title: "shards", hidden: true });
    this.el = card("Progress", h("div.progress-line", this.bar, this.pct), this.facts, this.shards);
  }

  update(job, events) {
    const p = job.progress || {};
    const pct = p.total ? (100 * p.done) / p.total : job.status === "succeeded" ? 100 : 0;
    const rate = p.rate_per_s ? `${fmtValue(p.rate_per_s)} ${p.unit || ""}/s` : "–";
    const eta = TERMINAL.has(job.status) ? "–" : p.eta_s === null || p.eta_s === undefined ? "–" : fmtDuration(p.eta_s);
    const facts = [["Done", `${fmtNum(p.done)} / ${fmtNum(p.total)} ${p.unit || ""}`], ["Rate", rate], ["ETA", eta],
      ["Elapsed", fmtDuration(elapsed(job.started_at, job.finished_at))]];
    if (p.shards_total) facts.push(["Shards", `${fmtNum(p.shards_done)} / ${fmtNum(p.shards_total)}`]);
    if (p.stage) facts.push(["Stage", p.stage]);
    if (p.epoch) facts.push(["Epoch", fmtNum(p.epoch)]);
    updateBar(this.bar, p.done || 0, p.total || 0, job.status);
    setText(this.pct, `${fmtNum(pct, 1)}%`);
    setFacts(this.facts, facts);
    const states = shardStates(p.shards_total, events);
    this.shards.hidden = !states;
    if (!states) return;
    if (this.shards.childElementCount !== states.length) {
      this.shards.replaceChildren(...states.map(() => h("span.shard")));
    }
    states.forEach((s, i) => {
      const square = this.shards.children[i];
      if (square.className !== `shard shard-${s}`) {
        square.className = `shard shard-${s}`;
        square.title = `shard ${i}: ${s}`;
      }
    });
  }
}

/** A pipeline's steps, one linked card each: rebuilt when the steps or their statuses change, else updated. */
export class ChildrenCard {
  constructor() {
    this.el = h("div");
    this.key = null;
    this.cards = [];
  }

  update(job) {
    const children = (job.progress || {}).children || {};
    const roles = Object.keys(children);
    const key = roles.map((role) => `${role}:${children[role].id}:${children[role].status}`).join(",");
    if (key !== this.key) {
      this.key = key;
      this.cards = roles.map((role) => {
        const c = children[role];
        const bar = progressBar(0, 0, c.status);
        const text = h("div.small.muted");
        const el = h("a.child", { href: `#/jobs/${c.id}`, dataset: { child: role } },
          h("div.child-head", h("strong", role), badge(c.status)), bar, text, h("div.mono.small", c.id));
        return { role, el, bar, text };
      });
      this.el.replaceChildren(roles.length ? card("Pipeline steps", h("div.children", this.cards.map((c) => c.el))) : "");
    }
    for (const { role, bar, text } of this.cards) {
      const c = children[role];
      const p = c.progress || {};
      updateBar(bar, p.done || 0, p.total || 0, c.status);
      setText(text, `${fmtNum(p.done)} / ${fmtNum(p.total)} ${p.unit || ""}${p.stage ? ` · ${p.stage}` : ""}`);
    }
  }
}

export function eventRow(e) {
  return h(`tr.ev-${e.kind}`, h("td.nowrap.mono", fmtTime(e.ts)), h("td.nowrap", h("span.kind", e.kind)),
    h("td.ev-msg", e.message));
}

/** The charts of a training job: one per loss, then the dev metrics (with the teacher's as dashed lines). */
export class TrainingCharts {
  constructor(container) {
    this.container = container;
    this.charts = new Map();
  }

  chart(key, title) {
    if (!this.charts.has(key)) {
      const chart = new LineChart({ title, key });
      this.charts.set(key, chart);
      const order = [...this.charts.keys()];
      this.container.replaceChildren(...order.map((k) => this.charts.get(k).el));
    }
    return this.charts.get(key);
  }

  update(job, points) {
    const losses = new Map();
    const metrics = new Map();
    for (const p of points) {
      for (const [name, value] of Object.entries(p.losses || {})) {
        if (name === "total") continue;
        if (!losses.has(name)) losses.set(name, []);
        losses.get(name).push([p.step, value]);
      }
      if (p.stage === "evaluate" && p.metrics) {
        const source = roleOf(job, p.job_id);
        for (const [name, value] of Object.entries(p.metrics)) {
          const key = source ? `${name} (${source})` : name;
          if (!metrics.has(key)) metrics.set(key, []);
          metrics.get(key).push([p.step, value]);
        }
      }
    }
    const names = [...losses.keys()].sort((a, b) => rank(a) - rank(b));
    names.forEach((name, i) => this.chart(`loss-${name}`, LOSS_TITLES[name] || `${name} loss`)
      .update([{ name, color: PALETTE[i % PALETTE.length], points: losses.get(name) }]));
    if (metrics.size) this.chart("dev-metric", "dev metric").update(metricSeries(job, metrics));
  }

  destroy() { for (const chart of this.charts.values()) chart.destroy(); }
}

function rank(name) {
  const i = LOSS_ORDER.indexOf(name);
  return i < 0 ? LOSS_ORDER.length : i;
}

function metricSeries(job, metrics) {
  const series = [...metrics.entries()].map(([name, points], i) => ({ name, points, color: PALETTE[i % PALETTE.length] }));
  const teacher = (job.progress || {}).teacher_dev_metrics || {};
  Object.entries(teacher).forEach(([name, value], i) => {
    series.push({ name: `${name} (teacher)`, points: [], reference: value, color: PALETTE[i % PALETTE.length] });
  });
  return series;
}
