// One job, live: status, timeline, progress, pipeline steps, training curves and events, all fed by the
// job's Server-Sent Events stream; cancel and download buttons. The page is built once and updated in place
// (a job event comes every 250 ms while a job runs): the buttons and links under the pointer or the keyboard
// focus stay the same nodes.
import { JobStream, api, downloadResult } from "../api.js";
import { TERMINAL, badge, card, fmtDate, h, notice, setFacts, setText } from "../ui.js";
import { ChildrenCard, ProgressCard, TrainingCharts, eventRow, timeline } from "./job_parts.js";

/** Events kept on the page (the log shows the newest; older ones stay on the server). */
const MAX_EVENTS = 2000;
const STREAM_LABELS = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", retrying: "retrying…",
  ended: "final" };

/** Cancel and download, built once; renderJob shows the ones the job's status allows. */
function actions(jobId, status) {
  const cancel = h("button.btn.btn-danger", { type: "button", id: "cancel-job", hidden: true, async onclick() {
    cancel.disabled = true; // until the stream says the job is over (or the request fails)
    try { await api(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { method: "POST" }); }
    catch (err) { status.replaceChildren(notice("error", `Cancel failed: ${err.message}`)); cancel.disabled = false; }
  } }, "Cancel job");
  const download = h("button.btn.btn-primary", { type: "button", id: "download-result", hidden: true, async onclick() {
    download.disabled = true;
    try {
      const name = await downloadResult(jobId);
      status.replaceChildren(notice("success", `Downloaded ${name}.`));
    } catch (err) { status.replaceChildren(notice("error", `Download failed: ${err.message}`)); }
    download.disabled = false;
  } }, "Download result");
  return { cancel, download };
}

function layout(main, jobId) {
  const el = {
    title: h("h1.job-title"), badge: h("span"), live: h("span.live", { id: "stream-state" }),
    actions: h("div.toolbar"), status: h("div"), error: h("div"), meta: h("dl.facts"),
    progressCard: new ProgressCard(), timeline: h("div"), childrenCard: new ChildrenCard(),
    chartsCard: card("Training curves"), charts: h("div.charts", { id: "charts" }),
    log: h("tbody"), logNote: h("span.muted.small"), params: h("pre.params"),
  };
  el.buttons = actions(jobId, el.status);
  el.actions.append(el.buttons.cancel, el.buttons.download);
  el.chartsCard.append(el.charts);
  el.chartsCard.hidden = true;
  const logWrap = h("div.log", { id: "events-log" }, h("table.table.table-compact", el.log));
  el.logWrap = logWrap;
  main.append(
    h("div.page-head", h("a.back", { href: "#/jobs" }, "← Jobs")),
    h("div.page-head", h("div.title-line", el.title, el.badge, el.live), el.actions),
    el.status, el.error, el.meta,
    h("div.grid-2", el.progressCard.el, card("Timeline", el.timeline)),
    el.childrenCard.el, el.chartsCard,
    card("Events", h("div.card-sub", el.logNote), logWrap),
    h("details.card", h("summary", "Parameters"), el.params));
  return el;
}

function renderJob(el, state) {
  const { job, events } = state;
  setText(el.title, `${job.type} ${job.id}`);
  if (!el.badge.firstChild || el.badge.firstChild.dataset.status !== job.status) el.badge.replaceChildren(badge(job.status));
  const { cancel, download } = el.buttons;
  if (cancel.hidden !== TERMINAL.has(job.status)) cancel.hidden = TERMINAL.has(job.status);
  if (download.hidden !== (job.status !== "succeeded")) download.hidden = job.status !== "succeeded";
  const error = job.error ? `${job.error.code}: ${job.error.message}` : "";
  if (el.error.textContent !== error) el.error.replaceChildren(error ? notice("error", error) : "");
  const facts = [["Created", fmtDate(job.created_at)], ["Started", fmtDate(job.started_at)],
    ["Finished", fmtDate(job.finished_at)]];
  const params = job.params || {};
  const datasetId = params.dataset_id || (params.train || {}).dataset_id || params.train_dataset_id;
  if (datasetId) facts.push(["Dataset", h("a.mono", { href: `#/datasets/${datasetId}` }, datasetId)]);
  setFacts(el.meta, facts);
  el.progressCard.update(job, events);
  const steps = timeline(job, events);
  if (!el.timeline.firstChild || !el.timeline.firstChild.isEqualNode(steps)) el.timeline.replaceChildren(steps);
  el.childrenCard.update(job);
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
  const el = layout(main, jobId);
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
  // The first load: a 404 (or another refusal) is final; a 5xx or an unreachable service (Redis or the API
  // restarting) is retried with a growing delay. The stream opens once the job is known.
  let loader = null;
  let delay = 1000;
  const loaded = (job) => {
    if (stream.closed) return;
    el.status.replaceChildren();
    state.job = state.job || job;
    redraw();
    stream.connect();
  };
  const load = () => api(`/v1/jobs/${encodeURIComponent(jobId)}`).then(loaded, (err) => {
    if (stream.closed || err.status === 401) return; // left, or signed out (main.js)
    if (err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
      setLive("ended");
      el.status.replaceChildren(notice("error", err.status === 404 ? `Job ${jobId} not found.` : err.message));
      return;
    }
    setLive("retrying");
    el.status.replaceChildren(notice("error", `Cannot load the job: ${err.message}. Retrying…`));
    loader = setTimeout(load, delay);
    delay = Math.min(delay * 2, 10000);
  });
  load();
  return {
    destroy() {
      stream.close();
      clearTimeout(loader);
      charts.destroy();
      cancelAnimationFrame(state.frame);
    },
  };
}
