// DOM and formatting helpers shared by the views. Text always goes in as text nodes (no HTML injection).

/** h("div.card", {onclick}, child, ...) -> element; attrs starting with "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className += ` ${value}`;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "expired"]);
/** As shared/job_types.py's JobType. */
export const JOB_TYPES = ["augmentation", "finetune", "distillation", "pipeline", "prediction", "general-distillation"];
export const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "expired"];
export const TASKS = ["sst-2", "mrpc", "rte", "sts-b", "cola", "qqp", "qnli", "mnli"];

export function badge(status) {
  return h(`span.badge.badge-${status}`, { dataset: { status } }, status);
}

export function fmtNum(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** A loss or metric value: 4 significant digits, exponent for the very small. */
export function fmtValue(value) {
  if (value === null || value === undefined) return "–";
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e5)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

export function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${fmtNum(value, unit ? 1 : 0)} ${units[unit]}`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  return new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
}

export function fmtDate(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? fmtTime(iso) : `${date.toLocaleDateString("en-CA")} ${fmtTime(iso)}`;
}

/** Seconds between two ISO times (or until now). */
export function elapsed(startIso, endIso) {
  if (!startIso) return null;
  return ((endIso ? new Date(endIso) : new Date()) - new Date(startIso)) / 1000;
}

export function progressBar(done, total, status) {
  const bar = h("div.bar", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, h("div.bar-fill"));
  updateBar(bar, done, total, status);
  return bar;
}

/** Sets a progressBar's fill in place (no node replaced). */
export function updateBar(bar, done, total, status) {
  const pct = total > 0 ? Math.min(100, (100 * done) / total) : status === "succeeded" ? 100 : 0;
  const now = pct.toFixed(0);
  if (bar.getAttribute("aria-valuenow") !== now) bar.setAttribute("aria-valuenow", now);
  const fill = bar.firstChild;
  const className = `bar-fill bar-${status || "running"}`;
  if (fill.className !== className) fill.className = className;
  if (fill.style.width !== `${pct}%`) fill.style.width = `${pct}%`;
}

/** Sets an element's text only when it differs (a live page rewrites nothing that did not change). */
export function setText(el, text) {
  const value = String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** Fills a <dl> with [term, value] pairs; rebuilt only when the terms change, else updated in place. */
export function setFacts(dl, facts) {
  const terms = facts.map(([k]) => k).join("\n");
  if (dl.factTerms !== terms) {
    dl.factTerms = terms;
    dl.replaceChildren(...facts.map(([k]) => h("div", h("dt", k), h("dd"))));
  }
  facts.forEach(([, value], i) => {
    const dd = dl.children[i].lastChild;
    if (!(value instanceof Node)) setText(dd, value);
    else if (!(dd.childNodes.length === 1 && dd.firstChild.isEqualNode(value))) dd.replaceChildren(value);
  });
}

/** A list's footer, built once: "x–y of total" and Newer/Older buttons that call move(-1) or move(1). */
export function pagerFooter(move, labels = ["Newer", "Older"]) {
  const text = h("span.muted.small.page-range");
  const prev = h("button.btn.btn-ghost.btn-sm", { type: "button", dataset: { page: "prev" }, onclick: () => move(-1) }, labels[0]);
  const next = h("button.btn.btn-ghost.btn-sm", { type: "button", dataset: { page: "next" }, onclick: () => move(1) }, labels[1]);
  return {
    el: h("div.table-foot", text, h("span.pager", prev, next)),
    update(offset, shown, total, size) {
      setText(text, `${shown ? offset + 1 : 0}–${offset + shown} of ${total}`);
      prev.disabled = offset === 0;
      next.disabled = offset + size >= total;
    },
  };
}

/** The offset of the last page of `total` items (0 when there are none). */
export function lastPageOffset(total, size) {
  return total > 0 ? Math.floor((total - 1) / size) * size : 0;
}

/** A button that needs a second click within 4 s (instead of a modal confirm()). */
export function confirmButton(label, confirmLabel, className, action) {
  let armed = null;
  const button = h(`button.btn.${className}`, { type: "button" }, label);
  button.addEventListener("click", () => {
    if (!armed) {
      button.textContent = confirmLabel;
      button.classList.add("armed");
      armed = setTimeout(() => { armed = null; button.textContent = label; button.classList.remove("armed"); }, 4000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.textContent = label;
    button.classList.remove("armed");
    action(button);
  });
  return button;
}

/** A titled white card. */
export function card(title, ...children) {
  return h("section.card", title ? h("h2.card-title", title) : null, ...children);
}

export function notice(kind, text) {
  return h(`div.notice.notice-${kind}`, { role: kind === "error" ? "alert" : "status" }, text);
}

/** Repeats `fn` every `ms` while the page is visible; returns a stop function. */
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === "visible") {
      try { await fn(); } catch { /* the next tick tries again */ }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => { stopped = true; clearTimeout(timer); };
}
