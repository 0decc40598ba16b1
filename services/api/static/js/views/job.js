// One job, live: status, timeline, progress, pipeline steps, training curves and events, all fed by the
// job's Server-Sent Events stream; cancel and download buttons.
import { JobStream, api, downloadResult } from "../api.js";
import { TERMINAL, badge, card, fmtDate, h, notice } from "../ui.js";
import { TrainingCharts, childrenCard, eventRow, progressCard, timeline } from "./job_parts.js";

/** Events kept on the page (the log shows the newest; older ones stay on the server). */
const MAX_EVENTS = 2000;
const STREAM_LABELS = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", ended: "final" };

function actions(job, status) {
  const buttons = [];
  if (!TERMINAL.has(job.status)) {
    buttons.push(h("button.btn.btn-danger", { type: "button", id: "cancel-job", async onclick(e) {
      e.target.disabled = true;
      try { await api(`/v1/jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST" }); }
      catch (err) { status.replaceChildren(notice("error", `Cancel failed: ${err.message}`)); e.target.disabled = false; }
    } }, "Cancel job"));
  }
  if (job.status === "succeeded") {
    buttons.push(h("button.btn.btn-primary", { type: "button", id: "download-result", async onclick(e) {
      e.target.disabled = true;
      try {
        const name = await downloadResult(job.id);
        status.replaceChildren(notice("success", `Downloaded ${name}.`));
      } catch (err) { status.replaceChildren(notice("error", `Download failed: ${err.message}`)); }
      e.target.disabled = false;
    } }, "Download result"));
  }
  return buttons;
}

function layout(main) {
  const el = {
    title: h("h1.job-title"), badge: h("span"), live: h("span.live", { id: "stream-state" }),
    actions: h("div.toolbar"), status: h("div"), error: h("div"), meta: h("dl.facts"),
    progress: h("div"), timeline: h("div"), children: h("div"),
    chartsCard: card("Training curves"), charts: h("div.charts", { id: "charts" }),
    log: h("tbody"), logNote: h("span.muted.small"), params: h("pre.params"),
  };
  el.chartsCard.append(el.charts);
  el.chartsCard.hidden = true;
  const logWrap = h("div.log", { id: "events-log" }, h("table.table.table-compact", el.log));
  el.logWrap = logWrap;
  main.append(
    h("div.page-head", h("a.back", { href: "#/jobs" }, "← Jobs")),
    h("div.page-head", h("div.title-line", el.title, el.badge, el.live), el.actions),
    el.status, el.error, el.meta,
    h("div.grid-2", el.progress, card("Timeline", el.timeline)),
    el.children, el.chartsCard,
    card("Events", h("div.card-sub", el.logNote), logWrap),
    h("details.card", h("summary", "Parameters"), el.params));
  return el;
}

function renderJob(el, state) {
  const { job, events } = state;
  el.title.textContent = `${job.type} ${job.id}`;
  el.badge.replaceChildren(badge(job.status));
  el.actions.replaceChildren(...actions(job, el.status));
  el.error.replaceChildren(job.error ? notice("error", `${job.error.code}: ${job.error.message}`) : "");
  const facts = [["Created", fmtDate(job.created_at)], ["Started", fmtDate(job.started_at)],
    ["Finished", fmtDate(job.finished_at)]];
  const params = job.params || {};
  const datasetId = params.dataset_id || (params.train || {}).dataset_id || params.train_dataset_id;
  if (datasetId) facts.push(["Dataset", h("a.mono", { href: `#/datasets/${datasetId}` }, datasetId)]);
  el.meta.replaceChildren(...facts.map(([k, v]) => h("div", h("dt", k), h("dd", v))));
  el.progress.replaceChildren(progressCard(job, events));
  el.timeline.replaceChildren(timeline(job, events));
  el.children.replaceChildren(childrenCard(job) || "");
  const shown = JSON.stringify(params, null, 2);
  if (el.params.textContent !== shown) el.params.textContent = shown;
}

function appendEvents(el, state, items) {
  const stick = el.logWrap.scrollTop + el.logWrap.clientHeight >= el.logWrap.scrollHeight - 8;
  state.events.push(...items);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  el.log.append(...items.map(eventRow));
  while (el.log.childElementCount > MAX_EVENTS) el.log.firstElementChild.remove();
  el.logNote.textContent = `${state.events.length} events`;
  if (stick) el.logWrap.scrollTop = el.logWrap.scrollHeight;
}

export function jobView(main, jobId) {
  const el = layout(main);
  const state = { job: null, events: [], points: [], frame: 0 };
  const charts = new TrainingCharts(el.charts);
  const setLive = (name) => {
    el.live.textContent = STREAM_LABELS[name];
    el.live.className = `live live-${name}`;
  };
  const redraw = () => {
    state.frame = 0;
    if (!state.job) return;
    renderJob(el, state);
    if (state.points.length) {
      el.chartsCard.hidden = false;
      charts.update(state.job, state.points);
    }
  };
  const schedule = () => { if (!state.frame) state.frame = requestAnimationFrame(redraw); };
  setLive("connecting");
  const stream = new JobStream(jobId, {
    job(job) { state.job = job; redraw(); },
    events(items) { appendEvents(el, state, items); schedule(); },
    metrics(points, start) { state.points.length = Math.min(state.points.length, start); state.points.push(...points); schedule(); },
    end() { setLive("ended"); },
    state: setLive,
  });
  api(`/v1/jobs/${encodeURIComponent(jobId)}`).then((job) => {
    state.job = state.job || job;
    redraw();
    stream.connect();
  }).catch((err) => {
    setLive("ended");
    el.status.replaceChildren(notice("error", err.status === 404 ? `Job ${jobId} not found.` : err.message));
  });
  return {
    destroy() {
      stream.close();
      charts.destroy();
      cancelAnimationFrame(state.frame);
    },
  };
}
