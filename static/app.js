// progress-sse's page: sign in, start a run of any kind, watch it or a batch, list recent runs.
// Plain JavaScript modules, no build step. A run is shown by <progress-run> (progress-run.js),
// the same element other applications embed; a batch by its rows (batch-view.js) above a
// <progress-run batch>; this file adds what only our page does.
// The server is the only source of truth: localStorage keeps at most the run's or batch's id.

import { SERVICE_ROOT, errorText, request } from "{{progress-run.js}}";
import { clearFieldErrors, drawForm, el, readParams, showFieldErrors } from "{{start-form.js}}";
import { depreciationView } from "{{accounting.js}}";
import { BatchView } from "{{batch-view.js}}";

const RUN_KEY = "progress-sse.run";
const BATCH_KEY = "progress-sse.batch";
const TERMINAL = ["completed", "failed", "cancelled"];
const $ = (id) => document.getElementById(id);
const state = {
  csrf: null, role: null, staleAfterS: 300, kinds: [], kind: null, form: null, runId: null, recentAsked: 0,
};

/** Kinds with a view of their own; every other kind gets the form drawn from its params model. */
const VIEWS = { [depreciationView.kind]: depreciationView };

const url = (path) => new URL(path, SERVICE_ROOT).href;
const api = (method, path, body) => request(SERVICE_ROOT, method, path, { body, csrf: state.csrf });
/** A raw body (a file, or null for none) to the service, for a kind's view. */
const send = (method, path, raw) => request(SERVICE_ROOT, method, path, { raw, csrf: state.csrf });

function announce(text) { $("announce").textContent = text; }
function alertBox(text) { const a = $("alert"); a.textContent = text; a.hidden = !text; }

// -- session ------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const result = await api("POST", "api/session", { api_key: key });
  $("api-key").value = "";  // the key is never kept
  if (result.status !== 200) { alertBox(errorText(result)); return; }
  enter(result.data);
}

async function restore() {
  const result = await api("GET", "api/session");  // 200 with signed_in: false for a visitor
  if (result.status === 200 && result.data.signed_in) enter(result.data);
  else if (result.data && result.data.ended) alertBox(`${result.data.message} Sign in again.`);
}

async function enter(who) {
  state.csrf = who.csrf_token; state.role = who.role; state.staleAfterS = who.stale_after_s || 300;
  const progress = $("progress");
  progress.setAttribute("stale-after-s", String(state.staleAfterS));
  progress.csrfToken = who.csrf_token; progress.sessionRole = who.role;
  alertBox("");
  $("sign-in").hidden = true; $("start").hidden = false; $("recent").hidden = false;
  $("who").hidden = false; $("who-text").textContent = `${who.tenant} (${who.role})`;
  $("who").dataset.tenant = who.tenant;
  $("admin").hidden = who.role !== "admin";
  await loadKinds();
  reattach(); loadRecent();
}

async function signOut() {
  await api("DELETE", "api/session");
  localStorage.removeItem(RUN_KEY); localStorage.removeItem(BATCH_KEY);
  location.reload();
}

// -- choosing a kind and starting ---------------------------------------------------------

async function loadKinds() {
  const result = await api("GET", "api/kinds");
  if (result.status !== 200) { alertBox(errorText(result)); return; }
  state.kinds = result.data.data;
  const picker = $("kind"); picker.replaceChildren();
  for (const kind of state.kinds) picker.add(new Option(kind.title || kind.name, kind.name));
  const preferred = new URLSearchParams(location.search).get("kind");
  const first = state.kinds.find((k) => k.name === preferred) || state.kinds.find((k) => VIEWS[k.name])
    || state.kinds[0];
  $("kind-picker").hidden = state.kinds.length < 2;
  if (first) { picker.value = first.name; showKind(first.name); }
}

function showKind(name) {
  const kind = state.kinds.find((k) => k.name === name);
  if (!kind) return;
  state.kind = kind;
  $("start-title").textContent = kind.title || kind.name;
  $("kind-description").textContent = kind.description || "";
  const view = VIEWS[kind.name];
  const drawn = view ? view.drawForm(kind, page) : drawForm(kind);
  state.form = drawn.matches("form") ? drawn : drawn.querySelector("form");
  if (!view) {
    state.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = readParams(state.form);  // null: a field the browser can already refuse
      if (params) start(params); else alertBox("Please correct the fields marked below.");
    });
  }
  $("kind-form").replaceChildren(drawn);
  alertBox("");
  setBusy(Boolean(state.runId) && !TERMINAL.includes($("progress").status));
}

/** What a kind's view may use of the page. */
const page = {
  start: (params) => start(params), url, alert: alertBox, openBatch: (id) => attachBatch(id),
  admin: () => state.role === "admin", send, open: (id) => open(id),
};

async function start(params) {
  alertBox(""); clearFieldErrors(state.form);
  setBusy(true);
  const result = await api("POST", "api/runs", { kind: state.kind.name, params });
  if (result.status === 202) { attach(result.data.id); return; }
  setBusy(false);
  const error = (result.data && result.data.error) || {};
  if (result.status === 409 && error.code === "run_active" && error.run_id) {
    await open(error.run_id); alertBox("A run like this one is already active; showing it."); return;
  }
  const explained = state.form.explain ? state.form.explain(error) : null;
  if (explained) { alertBox(explained); return; }
  if (result.status === 422 && error.fields) {
    const unplaced = showFieldErrors(state.form, error.fields);
    alertBox(unplaced.length ? `Please correct: ${unplaced.join("; ")}` : "Please correct the fields marked below.");
    return;
  }
  alertBox(errorText(result));
}

function setBusy(busy) {
  const button = $("start-button");
  if (!button) return;
  button.disabled = busy; button.classList.toggle("busy", busy);
  for (const control of state.form ? state.form.elements : []) control.disabled = busy;
  $("kind").disabled = busy;
}

// -- watching: <progress-run> follows the run; the page keeps its id and shows its summary -----

async function reattach() {
  const batch = localStorage.getItem(BATCH_KEY);
  if (batch) {
    if ((await api("GET", `api/batches/${encodeURIComponent(batch)}`)).status === 200) { attachBatch(batch); return; }
    localStorage.removeItem(BATCH_KEY);
  }
  const stored = localStorage.getItem(RUN_KEY);
  if (stored) {
    const result = await api("GET", `api/runs/${encodeURIComponent(stored)}`);
    if (result.status === 200) { showRun(result.data.data); return; }
    localStorage.removeItem(RUN_KEY);  // gone or not ours: no 404 loops
  }
  const active = await api("GET", "api/runs/active");
  if (active.status === 200 && active.data.data) showRun(active.data.data);
}

/** A run the server named: a batch's child is shown as its batch, which is what runs. */
function showRun(run) {
  if (run.batch_id) attachBatch(run.batch_id); else attach(run.id);
}

/** What a run is, in words: "Depreciation · November 2026", else its kind's title. */
function runLabel(run) {
  const kind = state.kinds.find((k) => k.name === run.kind);
  const title = (kind && kind.title) || run.kind;
  const view = VIEWS[run.kind];
  return view && view.label ? view.label(run, title) : title;
}

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });  // the browser's locale

/** Show a run; `focus`: a person opened it, so the focus goes to its heading. */
function attach(runId, { focus = false } = {}) {
  closeBatch();
  alertBox("");  // what was said was about what was shown before
  state.runId = runId;
  localStorage.setItem(RUN_KEY, runId);
  // The id shows once the element has the server's state: never a bar at zero under it.
  $("run").hidden = false; $("run-id").textContent = ""; $("summary").hidden = true;
  $("run-links").hidden = true;  // shown with the id, once the run is known to exist
  $("run-what").textContent = "Run";
  setBusy(true);
  $("progress").runId = runId;  // the element (re)starts following
  if (focus) $("run-title").focus();
}

function onUpdate(event) {
  $("run-id").textContent = state.runId;
  showReportLink();
  if (event.detail.kind) $("run-what").textContent = runLabel(event.detail);  // a snapshot
  const status = event.detail.status;
  if (status && !TERMINAL.includes(status)) {  // e.g. resumed: a reload follows it again
    $("summary").hidden = true; setBusy(true); keep(RUN_KEY, state.runId);
  }
}

function onEnd(event) {
  const { status, run } = event.detail;  // the element has announced it
  setBusy(false);
  const view = VIEWS[run.kind];
  const parts = view ? view.summary(run, page) : resultSummary(run);
  $("summary").replaceChildren(...parts); $("summary").hidden = parts.length === 0;
  if (status !== "failed" || run.error_code !== "stale") localStorage.removeItem(RUN_KEY);
  loadRecent();
}

function keep(key, id) { if (id && localStorage.getItem(key) !== id) localStorage.setItem(key, id); }

function onProblem(event) {
  const { status, message } = event.detail;
  $("run-id").textContent = state.runId;
  if (status === 404) { localStorage.removeItem(RUN_KEY); setBusy(false); }
  if (status === 401) alertBox("Your session has ended; sign in again.");
  else alertBox(message);
}

/** The run's printable report (api/runs/{id}/report): it says so while the run is unfinished. */
function showReportLink() {
  $("run-report").href = url(`api/runs/${encodeURIComponent(state.runId)}/report`);
  $("run-links").hidden = false;
}

/** A completed run's summary: the kind's sentence, and the result as a two-column table. */
function resultSummary(run) {
  if (run.status !== "completed" || !run.result) return [];
  const said = run.summary ? [el("p", { className: "run-summary", textContent: run.summary })] : [];
  const table = el("table", { className: "result" });
  for (const [key, value] of Object.entries(run.result)) {
    const shown = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    table.append(el("tr", {}, el("th", { textContent: key }), el("td", { textContent: shown })));  // keys as sent
  }
  return [...said, table];
}

// -- a batch: its rows follow the <progress-run batch> under them --------------------------

const batchView = new BatchView({ holder: $("batch-bar"), list: $("batch-children"), counts: $("batch-counts") });

/** Show a batch; `focus`: a person opened it, so the focus goes to its heading. */
function attachBatch(batchId, { focus = false } = {}) {
  if (state.runId) {  // the run view stops following; its run goes on
    state.runId = null; localStorage.removeItem(RUN_KEY);
    $("run").hidden = true; $("progress").runId = ""; setBusy(false);
  }
  alertBox("");  // what was said was about what was shown before
  if (batchView.batchId !== batchId) $("batch-name").textContent = "Batch";
  localStorage.setItem(BATCH_KEY, batchId);
  $("batch").hidden = false; $("batch-id").textContent = batchId;
  batchView.show(batchId, { csrf: state.csrf, role: state.role, staleAfterS: state.staleAfterS });
  if (focus) $("batch-title").focus();
}

function closeBatch() {
  if ($("batch").hidden) return;
  localStorage.removeItem(BATCH_KEY);
  $("batch").hidden = true; batchView.close();
}

/** An id the server named (a run or a batch already active): shown as whichever it is, a
 * batch's child as its batch. */
async function open(id) {
  if ((await api("GET", `api/batches/${encodeURIComponent(id)}`)).status === 200) { attachBatch(id); return; }
  const run = await api("GET", `api/runs/${encodeURIComponent(id)}`);
  if (run.status === 200) showRun(run.data.data); else attach(id);
}

function onBatchUpdate(event) {
  const { name, children, status } = event.detail;
  if (name && Array.isArray(children)) $("batch-name").textContent = name;
  if (status && !TERMINAL.includes(status)) keep(BATCH_KEY, batchView.batchId);  // e.g. resumed
}

function onBatchEnd() {  // the element has announced it
  localStorage.removeItem(BATCH_KEY);
  loadRecent();
}

function onBatchProblem(event) {
  const { status, message } = event.detail;
  if (status === 404) localStorage.removeItem(BATCH_KEY);
  alertBox(status === 401 ? "Your session has ended; sign in again." : message);
}

// -- the list and the admin action --------------------------------------------------------

async function resetTenant() {
  const tenant = $("who").dataset.tenant;
  const question = `Reset every pending, running or paused run of tenant "${tenant}"? Each is failed now, and can be resumed.`;
  if (!confirm(question)) return;
  const result = await api("POST", `api/admin/tenants/${encodeURIComponent(tenant)}/reset`);
  if (result.status !== 200) { alertBox(errorText(result)); return; }
  announce(`${result.data.reset_count} run(s) reset`); loadRecent();
}

/** Runs outside batches and batches (each one row), newest first: ids sort by creation time. */
async function loadRecent() {
  const filter = $("only-failed").checked ? "&status=failed" : "";
  const asked = ++state.recentAsked;  // answers can arrive out of order: only the newest counts
  const [runs, batches] = await Promise.all([
    api("GET", `api/runs?limit=20&in_batch=false${filter}`), api("GET", `api/batches?limit=20${filter}`),
  ]);
  if (asked !== state.recentAsked) return;
  const body = $("recent-rows"); body.replaceChildren();
  if (runs.status !== 200) return;
  const rows = [...runs.data.data.map((run) => runRow(run)),
    ...(batches.status === 200 ? batches.data.data.map((batch) => batchRow(batch)) : [])];
  rows.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  for (const { tr } of rows.slice(0, 20)) body.append(tr);
}

function runRow(run) {
  const shown = run.stale ? "stale" : run.status;
  return { id: run.id, tr: recentRow([runLabel(run), shown, shown], run, () => attach(run.id, { focus: true })) };
}

/** A batch as one row: its name and size, its status and combined percentage. */
function batchRow(batch) {
  const pct = Math.floor(batch.percentage * 10) / 10;
  const what = `${batch.name} · ${batch.children.length} part${batch.children.length === 1 ? "" : "s"}`;
  const opens = () => attachBatch(batch.id, { focus: true });
  const tr = recentRow([what, `${batch.status} · ${pct}%`, batch.status], batch, opens);
  tr.dataset.batch = batch.id;
  return { id: batch.id, tr };
}

function recentRow([what, status, statusClass], item, opens) {
  const { started_at: started, finished_at: finished } = item;
  const seconds = started && finished ? (Date.parse(finished) - Date.parse(started)) / 1000 : null;
  const cells = [
    ["what", what], [`status status-${statusClass}`, status],
    ["when", item.started_at ? WHEN.format(new Date(item.started_at)) : "—"],
    ["took", seconds != null ? `${seconds.toLocaleString(undefined, { maximumFractionDigits: 1 })} s` : "—"],
    ["run-ref", item.id],
  ];
  const tr = el("tr", {}, ...cells.map(([className, text]) => el("td", { className, textContent: text })));
  tr.tabIndex = 0; tr.setAttribute("role", "button");  // a row opens its run or batch, by keyboard too
  tr.addEventListener("click", opens);
  tr.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); opens(); }  // as a button: Space does not scroll
  });
  return tr;
}

$("sign-in-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
$("kind").addEventListener("change", (event) => showKind(event.target.value));
$("reset-tenant").addEventListener("click", resetTenant);
$("only-failed").addEventListener("change", loadRecent);
$("progress").addEventListener("progress-run:update", onUpdate);
$("progress").addEventListener("progress-run:end", onEnd);
$("progress").addEventListener("progress-run:problem", onProblem);
$("batch-bar").addEventListener("progress-run:update", onBatchUpdate);
$("batch-bar").addEventListener("progress-run:end", onBatchEnd);
$("batch-bar").addEventListener("progress-run:problem", onBatchProblem);
restore();
