// Datasets: upload (drag and drop or a file chooser), the list, and one dataset's preview, augmentation
// form and delete button.
import { api, uploadDataset } from "../api.js";
import {
  TASKS, card, confirmButton, fmtBytes, fmtDate, fmtNum, h, lastPageOffset, notice, pagerFooter,
} from "../ui.js";

function uploadCard(onUploaded) {
  const file = h("input.visually-hidden", { type: "file", id: "upload-file", accept: ".tsv,.csv,.jsonl,.txt" });
  const task = h("select", { name: "task" }, h("option", { value: "" }, "none (name the columns)"),
    TASKS.map((t) => h("option", { value: t }, t)));
  const textColumns = h("input", { name: "text_columns", placeholder: "e.g. sentence1,sentence2" });
  const labelColumn = h("input", { name: "label_column", placeholder: "e.g. label" });
  const status = h("div.upload-status", { id: "upload-status" });
  const zone = h("label.dropzone", { for: "upload-file", id: "dropzone" },
    h("span.dropzone-icon", "⇪"), h("strong", "Drop a dataset here"),
    h("span.muted", " or click to choose a .tsv, .csv or .jsonl file"));

  async function send(chosen) {
    if (!chosen) return;
    const bar = h("div.bar", h("div.bar-fill.bar-running"));
    status.replaceChildren(h("div.upload-progress", h("span", `Uploading ${chosen.name}…`), bar));
    try {
      const dataset = await uploadDataset(chosen, {
        task: task.value, text_columns: textColumns.value.trim(), label_column: labelColumn.value.trim(),
      }, (fraction) => (bar.firstChild.style.width = `${(fraction * 100).toFixed(0)}%`));
      status.replaceChildren(notice("success", `Uploaded ${dataset.name}: ${fmtNum(dataset.rows)} rows.`));
      onUploaded(dataset);
    } catch (err) {
      status.replaceChildren(notice("error", `Upload refused: ${err.message}`));
    }
    file.value = "";
  }
  file.addEventListener("change", () => send(file.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    send(e.dataTransfer.files[0]);
  });
  return card("Upload a dataset", zone, file,
    h("div.form-row",
      h("label.field", h("span", "GLUE task"), task),
      h("label.field", h("span", "Text columns"), textColumns),
      h("label.field", h("span", "Label column"), labelColumn)),
    status);
}

const PAGE = 50;

export function datasetsView(main) {
  const tbody = h("tbody");
  const status = h("div");
  const controller = new AbortController();
  let offset = 0;
  let asked = 0; // requests sent; an answer to any but the latest is dropped
  const pager = pagerFooter((step) => { offset = Math.max(0, offset + step * PAGE); refresh(); });
  async function refresh() {
    const ticket = ++asked;
    try {
      const query = new URLSearchParams({ offset, limit: PAGE });
      const page = await api(`/v1/datasets?${query}`, { signal: controller.signal });
      if (ticket !== asked) return;
      status.replaceChildren();
      if (!page.items.length && offset > 0) { // past the end (datasets were deleted): back to the last page
        offset = lastPageOffset(page.total, PAGE);
        return refresh();
      }
      tbody.replaceChildren(...page.items.map((d) =>
        h("tr", { dataset: { dataset: d.id }, onclick: () => (location.hash = `#/datasets/${d.id}`) },
          h("td", h("a", { href: `#/datasets/${d.id}` }, d.name)),
          h("td.num", fmtNum(d.rows)), h("td", d.format), h("td", d.task || "–"),
          h("td.small", d.text_columns.join(", ")), h("td.num", fmtBytes(d.size_bytes)),
          h("td.nowrap", fmtDate(d.created_at)))));
      if (!page.items.length) tbody.append(h("tr", h("td.empty", { colSpan: 7 }, "No datasets yet.")));
      pager.update(offset, page.items.length, page.total, PAGE);
    } catch (err) {
      if (ticket === asked && err.name !== "AbortError") status.replaceChildren(notice("error", `Cannot load datasets: ${err.message}`));
    }
  }
  main.append(h("div.page-head", h("h1", "Datasets")), uploadCard(refresh), status,
    h("section.card.card-flush", h("div.table-wrap", h("table.table.table-click", { id: "datasets-table" },
      h("thead", h("tr", ["Name", "Rows", "Format", "Task", "Text columns", "Size", "Uploaded"]
        .map((t) => h(["Rows", "Size"].includes(t) ? "th.num" : "th", t)))),
      tbody)), pager.el));
  refresh();
  return { destroy: () => controller.abort() };
}

function previewTable(dataset) {
  const rows = dataset.preview || [];
  return h("div.table-wrap.preview", h("table.table.table-compact", { id: "preview-table" },
    h("thead", h("tr", dataset.columns.map((c) => h("th", c)))),
    h("tbody", rows.map((r) => h("tr", dataset.columns.map((c) => h("td", String(r[c] ?? ""))))))));
}

function augmentForm(dataset) {
  const field = (name, label, attrs) => h("label.field", h("span", label), h("input", { name, ...attrs }));
  const status = h("div");
  const button = h("button.btn.btn-primary", { type: "submit", id: "augment-submit" }, "Start augmentation");
  const form = h("form.form-grid", {
    async onsubmit(event) {
      event.preventDefault();
      const body = { dataset_id: dataset.id };
      for (const [name, value] of new FormData(form)) {
        if (value === "") continue;
        body[name] = ["mlm_model", "glove"].includes(name) ? value : Number(value);
      }
      button.disabled = true;
      try {
        const job = await api("/v1/augmentations", { method: "POST", json: body });
        location.hash = `#/jobs/${job.id}`;
      } catch (err) {
        status.replaceChildren(notice("error", err.message));
        button.disabled = false;
      }
    },
  },
  field("n", "Samples per row (N)", { type: "number", min: 0, placeholder: "20" }),
  field("k", "Candidates (K)", { type: "number", min: 1, placeholder: "15" }),
  field("p", "Replace prob. (p)", { type: "number", min: 0, max: 1, step: "any", placeholder: "0.4" }),
  field("seed", "Seed", { type: "number", placeholder: "42" }),
  field("shard_rows", "Rows per shard", { type: "number", min: 1, placeholder: "1000" }),
  h("label.field.field-wide", h("span", "Masked LM (folder or hub id)"), h("input", { name: "mlm_model", placeholder: "server default" })),
  h("div.form-actions", button, h("span.muted.small", "Empty fields take the server's defaults.")));
  return card("Augment this dataset", form, status);
}

export function datasetView(main, datasetId) {
  const controller = new AbortController();
  main.append(h("div.page-head", h("a.back", { href: "#/datasets" }, "← Datasets")));
  api(`/v1/datasets/${encodeURIComponent(datasetId)}?preview=20`, { signal: controller.signal }).then((d) => {
    const status = h("div");
    const remove = confirmButton("Delete", "Click again to delete", "btn-danger", async (button) => {
      button.disabled = true;
      try {
        await api(`/v1/datasets/${encodeURIComponent(d.id)}`, { method: "DELETE" });
        location.hash = "#/datasets";
      } catch (err) {
        status.replaceChildren(notice("error", err.message));
        button.disabled = false;
      }
    });
    remove.id = "delete-dataset";
    const facts = [["Rows", fmtNum(d.rows)], ["Format", d.format], ["Task", d.task || "–"],
      ["Text columns", d.text_columns.join(", ")], ["Label column", d.label_column || "–"],
      ["Size", fmtBytes(d.size_bytes)], ["Uploaded", fmtDate(d.created_at)], ["Id", d.id]];
    main.append(
      h("div.page-head", h("h1.dataset-title", d.name), h("div.toolbar", remove)), status,
      h("dl.facts", facts.map(([k, v]) => h("div", h("dt", k), h("dd", v)))),
      card(`Preview (first ${Math.min(20, d.rows)} of ${fmtNum(d.rows)} rows)`, previewTable(d)),
      augmentForm(d));
  }).catch((err) => {
    if (err.name !== "AbortError") main.append(notice("error", err.status === 404 ? `Dataset ${datasetId} not found.` : err.message));
  });
  return { destroy: () => controller.abort() };
}
