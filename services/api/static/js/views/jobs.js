// The jobs list: filter by type and status, newest first, refreshed every second while visible.
import { api } from "../api.js";
import { JOB_TYPES, STATUSES, badge, elapsed, every, fmtDate, fmtDuration, fmtNum, h, notice, progressBar } from "../ui.js";

const PAGE = 50;

function select(name, values, chosen, onchange) {
  return h("label.field.field-inline", h("span", name),
    h("select", { name, onchange },
      h("option", { value: "" }, `all`),
      values.map((v) => h("option", { value: v, selected: v === chosen }, v))));
}

function row(job) {
  const p = job.progress || {};
  const pct = p.total ? `${fmtNum((100 * p.done) / p.total)}%` : "";
  const stage = p.stage ? h("span.muted.small", ` ${p.stage}`) : null;
  return h("tr", { dataset: { job: job.id }, onclick: () => (location.hash = `#/jobs/${job.id}`) },
    h("td", h("a.mono", { href: `#/jobs/${job.id}` }, job.id)),
    h("td", job.type),
    h("td", badge(job.status)),
    h("td.cell-progress", progressBar(p.done || 0, p.total || 0, job.status),
      h("span.small", `${fmtNum(p.done)} / ${fmtNum(p.total)} ${p.unit || ""} ${pct}`), stage),
    h("td.nowrap", fmtDate(job.created_at)),
    h("td.nowrap", fmtDuration(elapsed(job.started_at, job.finished_at))));
}

export function jobsView(main, _arg, params) {
  const filters = { type: params.get("type") || "", status: params.get("status") || "" };
  let offset = 0;
  let shown = "";
  const tbody = h("tbody");
  const footer = h("div.table-foot");
  const status = h("div");
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
      tbody)), footer));

  async function refresh() {
    const query = new URLSearchParams({ offset, limit: PAGE });
    for (const [k, v] of Object.entries(filters)) if (v) query.set(k, v);
    try {
      const page = await api(`/v1/jobs?${query}`);
      status.replaceChildren();
      const key = JSON.stringify(page);
      if (key === shown) return;
      shown = key;
      tbody.replaceChildren(...page.items.map(row));
      if (!page.items.length) tbody.append(h("tr", h("td.empty", { colSpan: 6 }, "No jobs yet. Upload a dataset and augment it from its page.")));
      footer.replaceChildren(h("span.muted.small", `${page.total ? offset + 1 : 0}–${offset + page.items.length} of ${page.total}`),
        h("span.pager",
          h("button.btn.btn-ghost.btn-sm", { type: "button", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); refresh(); } }, "Newer"),
          h("button.btn.btn-ghost.btn-sm", { type: "button", disabled: offset + PAGE >= page.total, onclick: () => { offset += PAGE; refresh(); } }, "Older")));
    } catch (err) {
      if (err.name !== "AbortError") status.replaceChildren(notice("error", `Cannot load jobs: ${err.message}. Retrying…`));
    }
  }
  refresh();
  return { destroy: every(1000, refresh) };
}
