// The page's shell: sign-in, the top bar, and a router over the URL fragment (#/jobs, #/jobs/ID, ...).
import { detailText, onUnauthorized, session, signIn } from "./api.js";
import { datasetView, datasetsView } from "./views/datasets.js";
import { jobView } from "./views/job.js";
import { jobsView } from "./views/jobs.js";
import { h, notice } from "./ui.js";

const main = document.getElementById("main");
const ROUTES = [
  [/^#\/jobs\/([^/?]+)/, jobView, "jobs"],
  [/^#\/datasets\/([^/?]+)/, datasetView, "datasets"],
  [/^#\/datasets/, datasetsView, "datasets"],
  [/^#\/jobs/, jobsView, "jobs"],
];
let current = null;

function leave() {
  if (current && current.destroy) current.destroy();
  current = null;
}

function route() {
  leave();
  document.getElementById("banner").hidden = true;
  if (!session.key) return showSignIn();
  document.getElementById("topbar").hidden = false;
  document.getElementById("team").textContent = session.team;
  const hash = location.hash || "#/jobs";
  const [pattern, view, nav] = ROUTES.find(([re]) => re.test(hash)) || ROUTES[3];
  const arg = (pattern.exec(hash) || [])[1] || "";
  for (const link of document.querySelectorAll("[data-nav]")) link.classList.toggle("active", link.dataset.nav === nav);
  const params = new URLSearchParams(hash.split("?")[1] || "");
  main.replaceChildren();
  let decoded;
  try {
    decoded = decodeURIComponent(arg);
  } catch {
    return notFound(hash); // a malformed escape (/#/jobs/%E0)
  }
  current = view(main, decoded, params);
}

function notFound(hash) {
  main.append(h("div.page-head", h("a.back", { href: "#/jobs" }, "← Jobs")),
    notice("error", `Nothing here: ${hash} is not an address of this page.`));
}

function showSignIn(message) {
  document.getElementById("topbar").hidden = true;
  const input = h("input", { id: "key", type: "password", name: "key", autocomplete: "off", placeholder: "API key",
    required: true, "aria-label": "API key" });
  const status = h("div.signin-status");
  if (message) status.replaceChildren(notice("error", message));
  const button = h("button.btn.btn-primary.btn-block", { type: "submit" }, "Sign in");
  const form = h("form.signin-card", {
    async onsubmit(event) {
      event.preventDefault();
      button.disabled = true;
      status.replaceChildren(notice("info", "Checking the key…"));
      try {
        const key = input.value.trim();
        session.set(key, await signIn(key));
        route();
      } catch (err) {
        const why = err.status === 401 ? `That API key was not accepted (${err.message}).` : `Cannot sign in: ${err.message}.`;
        status.replaceChildren(notice("error", why));
        button.disabled = false;
        input.select();
      }
    },
  },
  h("div.signin-brand", h("span.brand-mark"), "Distillery"),
  h("p.muted", "Sign in with your team's API key. It is kept in this tab only (sessionStorage)."),
  h("label.field", h("span", "API key"), input), button, status);
  main.replaceChildren(h("div.signin", form));
  input.focus();
}

function signOut(message) {
  leave();
  session.clear();
  showSignIn(message);
}

onUnauthorized((reason) => signOut(`Your API key is no longer accepted (${detailText(reason)}). Sign in again.`));
document.getElementById("signout").addEventListener("click", () => signOut());
window.addEventListener("hashchange", route);
route();
