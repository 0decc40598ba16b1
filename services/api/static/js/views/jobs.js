// The jobs list: filter by type and status, newest first, refreshed every second while visible. Rows are
// rebuilt only when the page's jobs or their statuses change; otherwise their progress is updated in place.
import { api } from "../api.js";
import {
  JOB_TYPES, STATUSES, badge, elapsed, every, fmtDate, fmtDuration, fmtNum, h, lastPageOffset, notice, pagerFooter,
  progressBar, setText, updateBar,
} from "../ui.js";

const PAGE = 50;

function select(name, values, chosen, onchange) {
  return h("label.field.field-inline", h("span", name),
    h("select", { name, onchange },
      h("option", { value: "" }, `all`),
      values.map((v) => h("option", { value: v, selected: v === chosen }, v))));
}

/** A job's row and the function that updates its progress and duration in place. */
function row(job) {
  const bar = progressBar(0, 0, job.status);
  const done = h("span.small");
  const stage = h("span.muted.small");
  const duration = h("td.nowrap");
  const tr = h("tr", { dataset: { job: job.id }, onclick: () => (location.hash = `#/jobs/${job.id}`) },
    h("td", h("a.mono", { href: `#/jobs/${job.id}` }, job.id)),
    h("td", job.type),
    h("td", badge(job.status)),
    h("td.cell-progress", bar, done, stage),
    h("td.nowrap", fmtDate(job.created_at)),
    duration);
  const update = (j) => {
    const p = j.progress || {};
    const pct = p.total ? `${fmtNum((100 * p.done) / p.total)}%` : "";
    updateBar(bar, p.done || 0, p.total || 0, j.status);
    setText(done, `${fmtNum(p.done)} / ${fmtNum(p.total)} ${p.unit || ""} ${pct}`);
    setText(stage, p.stage ? ` ${p.stage}` : "");
    setText(duration, fmtDuration(elapsed(j.started_at, j.finished_at)));
  };
  update(job);
  return { tr, update };
}

export function jobsView(main, _arg, params) {
  const filters = { type: params.get("type") || "", status: params.get("status") || "" };
  let offset = 0;
  let asked = 0; // requests sent; an answer to any but the latest is dropped
  let shown = null; // ids and statuses of the rows on the page
  let rows = [];
  const tbody = h("tbody");
  const status = h("div");
  const pager = pagerFooter((step) => { offset = Math.max(0, offset + step * PAGE); refresh(); });
  const setFilter = (name) => (e) => {
    filters[name] = e.target.value;
    offset = 0;
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", `#/jobs${query.toString() ? `?${query}` : ""}`);
    refresh();
  };
  main.append(
    h("div.page-head", h("h1", "Jobs"),
      h("div.toolbar", select("type", JOB_TYPES, filters.type, setFilter("type")),
        select("status", STATUSES, filters.status, setFilter("status")))),
    status,
    h("section.card.card-flush", h("div.table-wrap", h("table.table.table-click", { id: "jobs-table" },
      h("thead", h("tr", ["Job", "Type", "Status", "Progress", "Created", "Duration"].map((t) => h("th", t)))),
      tbody)), pager.el));

  async function refresh() {
    const ticket = ++asked;
    const query = new URLSearchParams({ offset, limit: PAGE });
    for (const [k, v] of Object.entries(filters)) if (v) query.set(k, v);
    try {
      const page = await api(`/v1/jobs?${query}`);
      if (ticket !== asked) return; // a newer request (another page or filter, or a later poll) was sent
      status.replaceChildren();
      if (!page.items.length && offset > 0) { // past the end (jobs were deleted): back to the last page
        offset = lastPageOffset(page.total, PAGE);
        return refresh();
      }
      const filtered = Boolean(filters.type || filters.status);
      const key = `${filtered} ${page.items.map((j) => `${j.id}:${j.status}`).join(",")}`;
      if (key !== shown) {
        shown = key;
        rows = page.items.map(row);
        tbody.replaceChildren(...rows.map((r) => r.tr));
        if (!rows.length) {
          tbody.append(h("tr", h("td.empty", { colSpan: 6 },
            filtered ? "No jobs match these filters." : "No jobs yet. Upload a dataset and augment it from its page.")));
        }
      } else {
        page.items.forEach((job, i) => rows[i].update(job));
      }
      pager.update(offset, page.items.length, page.total, PAGE);
    } catch (err) {
      if (ticket === asked && err.name !== "AbortError") {
        status.replaceChildren(notice("error", `Cannot load jobs: ${err.message}. Retrying…`));
      }
    }
  }
  refresh();
  return { destroy: every(1000, refresh) };
}
