// Talking to the API: the key lives in sessionStorage and travels only as a Bearer header; job streams
// open with a short-lived token from POST /v1/stream-tokens instead, since EventSource cannot set headers.

const KEY = "distillery.apiKey";
const TEAM = "distillery.team";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  get team() { return sessionStorage.getItem(TEAM) || ""; },
  set(key, team) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(TEAM, team); },
  clear() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(TEAM); },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let unauthorized = () => {};
/** Called with the server's reason when a signed-in request answers 401 (the key was revoked). */
export function onUnauthorized(handler) { unauthorized = handler; }

/** The server's `detail` as one line: a string, or a dataset error's {message}, or a validation list. */
export function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  if (detail && typeof detail === "object") return detail.detail || detail.message || JSON.stringify(detail);
  return String(detail);
}

async function errorOf(response) {
  try {
    return new ApiError(response.status, detailText((await response.json()).detail));
  } catch {
    return new ApiError(response.status, `${response.status} ${response.statusText}`);
  }
}

/** fetch with the key; JSON in and out; throws ApiError (status 0 when the service cannot be reached). */
export async function api(path, { method = "GET", json, signal, raw = false, key = session.key } = {}) {
  const headers = { Authorization: `Bearer ${key}` };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "cannot reach the service");
  }
  if (!response.ok) {
    const err = await errorOf(response);
    if (response.status === 401 && key === session.key) unauthorized(err.message);
    throw err;
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/** Check a key by asking for a stream token with it; returns the key's team. */
export async function signIn(key) {
  const token = await api("/v1/stream-tokens", { method: "POST", key });
  return token.team;
}

/** Multipart upload with progress (fetch cannot report upload progress). Resolves to the dataset. */
export function uploadDataset(file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    for (const [name, value] of Object.entries(fields)) if (value) form.append(name, value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/datasets");
    xhr.setRequestHeader("Authorization", `Bearer ${session.key}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, "cannot reach the service"));
    xhr.onload = () => {
      let doc = null;
      try { doc = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) return resolve(doc);
      if (xhr.status === 401) unauthorized(detailText(doc && doc.detail));
      reject(new ApiError(xhr.status, doc ? detailText(doc.detail) : `${xhr.status} ${xhr.statusText}`));
    };
    xhr.send(form);
  });
}

/** Download a job's result through the key (a plain link could not carry the header). */
export async function downloadResult(jobId) {
  const response = await api(`/v1/jobs/${encodeURIComponent(jobId)}/result`, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (/filename="?([^";]+)"?/.exec(disposition) || [])[1] || `${jobId}-result`;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return name;
}

/** Metric cursors from here on are times (ms) of the last point received (services/api/job_feed.py). */
const TIME_CURSOR = 1e12;

/**
 * A job's live feed over Server-Sent Events. Reconnects with a fresh token and its cursors (last event
 * seq, metric cursor) after a network drop, with a growing delay; `close()` stops everything.
 */
export class JobStream {
  constructor(jobId, handlers) {
    this.jobId = jobId;
    this.on = handlers; // {job, events, metrics, end, state}
    this.afterEvent = 0;
    this.afterMetric = 0; // points received, or (the series full) the time of the last: see the metrics event
    this.received = 0;
    this.closed = false;
    this.source = null;
    this.timer = null;
    this.delay = 500;
  }

  async connect() {
    if (this.closed) return;
    let token;
    try {
      token = (await api("/v1/stream-tokens", { method: "POST" })).token;
    } catch (err) {
      if (err.status !== 401) this.retry();
      return;
    }
    if (this.closed) return;
    const query = new URLSearchParams({ token, after_event: this.afterEvent, after_metric: this.afterMetric });
    const source = (this.source = new EventSource(`/v1/jobs/${encodeURIComponent(this.jobId)}/stream?${query}`));
    source.addEventListener("open", () => { this.delay = 500; this.on.state("live"); });
    source.addEventListener("job", (e) => this.on.job(JSON.parse(e.data)));
    source.addEventListener("events", (e) => {
      const data = JSON.parse(e.data);
      this.afterEvent = data.last_seq;
      this.on.events(data.items);
    });
    source.addEventListener("metrics", (e) => {
      const data = JSON.parse(e.data);
      // The event id is the cursors to reconnect with. Once the series is full (trimmed from the front) its
      // metric part is the time of the last point, not a count, and `start` counts in the trimmed series:
      // the points then follow the ones received, wherever `start` says.
      const cursor = Number(String(e.lastEventId || "").split(".")[1]);
      const start = cursor >= TIME_CURSOR ? this.received : data.start;
      this.afterMetric = Number.isSafeInteger(cursor) ? cursor : data.start + data.points.length;
      this.received = start + data.points.length;
      this.on.metrics(data.points, start);
    });
    source.addEventListener("end", (e) => {
      this.close();
      this.on.end(JSON.parse(e.data));
    });
    source.onerror = () => {
      source.close();
      if (this.source !== source || this.closed) return;
      this.source = null;
      this.on.state("reconnecting");
      this.retry();
    };
  }

  retry() {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 10000);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }
}
