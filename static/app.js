// progress-sse browser page: plain JavaScript, no build step.
// The server is the only source of truth: localStorage keeps at most the run id.
"use strict";

const RUN_KEY = "progress-sse.run";
const TERMINAL = ["completed", "failed", "cancelled"];
const STALE_CHECK_EVERY_MS = 5000;  // while the page hears nothing, ask the server this often
const $ = (id) => document.getElementById(id);
const state = { csrf: null, role: null, staleAfterS: 300, runId: null, source: null, poll: null,
  lastSeq: 0, heartbeat: null, lastCheck: 0, liveRetries: 0, recentAsked: 0 };
const LIVE_RETRIES = 3;  // after polling worked, try live updates again this many times per run

function announce(text) { $("announce").textContent = text; }
function alertBox(text) { const a = $("alert"); a.textContent = text; a.hidden = !text; }

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (networkError) {
    return { status: 0, data: {} };  // offline or the server is gone: callers retry, never crash
  }
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

function errorText(result) {
  if (result.status === 0) return "The server cannot be reached; try again in a moment.";
  return (result.data && result.data.error && result.data.error.message) || `Request failed (${result.status}).`;
}

// -- session ------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  const result = await api("POST", "/api/session", { api_key: key });
  $("api-key").value = "";  // the key is never kept
  if (result.status !== 200) { alertBox(errorText(result)); return; }
  enter(result.data);
}

async function restore() {
  const result = await api("GET", "/api/session");
  if (result.status === 200) enter(result.data);
}

function enter(who) {
  state.csrf = who.csrf_token; state.role = who.role;
  if (who.stale_after_s) state.staleAfterS = who.stale_after_s;
  alertBox("");
  $("sign-in").hidden = true; $("start").hidden = false; $("recent").hidden = false;
  $("who").hidden = false; $("who-text").textContent = `${who.tenant} (${who.role})`;
  $("admin").hidden = who.role !== "admin";
  reattach(); loadRecent();
}

async function signOut() {
  await api("DELETE", "/api/session");
  localStorage.removeItem(RUN_KEY);
  location.reload();
}

// -- starting -------------------------------------------------------------------------

function fillPeriodPickers() {
  const now = new Date();
  const months = ["January","February","March","April","May","June","July","August","September","October","November","December"];
  months.forEach((name, i) => $("month").add(new Option(name, String(i + 1), false, i === now.getMonth())));
  $("year").value = now.getFullYear();
}

function chosenPeriod() {
  const month = Number($("month").value), year = Number($("year").value);
  return { year, month, label: `${$("month").selectedOptions[0].text} ${year}` };
}

async function start(event) {
  event.preventDefault();
  const { label } = chosenPeriod();
  if (!confirm(`Depreciate every asset for ${label}? If ${label} is already posted, its document is reversed and a new one is posted.`)) return;
  await post({});
}

// A dry run: the same steps and summary, nothing posted, no number taken, nothing locked.
async function preview() {
  if (!$("start-form").reportValidity()) return;
  await post({ dry_run: true });
}

// Deliberately post although an earlier month that needed a posting has none (recorded).
async function postAnyway() {
  const { label } = chosenPeriod();
  if (!confirm(`Post ${label} although earlier months are unposted? The journal records that this was allowed.`)) return;
  await post({ allow_earlier_unposted: true });
}

async function post(extra) {
  const { year, month, label } = chosenPeriod();
  $("post-anyway").hidden = true; alertBox("");
  setBusy(true);
  const result = await api("POST", "/api/runs", { kind: "asset_depreciation", params: { year, month, ...extra } });
  if (result.status === 202) { attach(result.data.id); return; }
  setBusy(false);
  const error = (result.data && result.data.error) || {};
  if (result.status === 409 && error.code === "run_active" && error.run_id) {
    alertBox("A run for this period is already active; showing it."); attach(error.run_id);
  } else if (result.status === 409 && error.code === "period_locked") {
    alertBox(`${label} is locked. An admin must unlock it first.`);
  } else if (result.status === 409 && error.code === "earlier_period_unposted") {
    alertBox(error.message); $("post-anyway").hidden = false;
  } else { alertBox(errorText(result)); }
}

function setBusy(busy) {
  const button = $("start-button");
  button.disabled = busy; button.classList.toggle("busy", busy);
  for (const el of $("start-form").elements) el.disabled = busy;
}

// -- watching -----------------------------------------------------------------------------

async function reattach() {
  const stored = localStorage.getItem(RUN_KEY);
  if (stored) {
    const result = await api("GET", `/api/runs/${encodeURIComponent(stored)}`);
    if (result.status === 200) { attach(stored, result.data.data); return; }
    localStorage.removeItem(RUN_KEY);  // gone or not ours: no 404 loops
  }
  const active = await api("GET", "/api/runs/active?kind=asset_depreciation");
  if (active.status === 200 && active.data.progress) attach(active.data.progress.id, active.data.progress);
}

async function attach(runId, snapshot) {
  stopWatching();
  state.runId = runId; state.lastSeq = 0; state.liveRetries = 0; state.heartbeat = null;
  localStorage.setItem(RUN_KEY, runId);
  $("run").hidden = false; $("run-id").textContent = runId; $("summary").hidden = true;
  if (!snapshot) { const r = await api("GET", `/api/runs/${runId}`); snapshot = r.data.data; }
  if (snapshot) renderRun(snapshot);
  if (snapshot && TERMINAL.includes(snapshot.status)) { finish(snapshot.status, snapshot); return; }
  setBusy(true);
  watch(runId);
}

function watch(runId) {
  if (!("EventSource" in window)) { startPolling(runId); return; }
  let failures = 0;
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  state.source = source;
  source.onopen = () => { failures = 0; showConnection(""); };
  source.onmessage = (e) => { const data = JSON.parse(e.data); state.lastSeq = data.seq; renderProgress(data); };
  for (const name of ["complete", "error", "cancelled"]) {
    source.addEventListener(name, (e) => { const data = JSON.parse(e.data); source.close(); onTerminal(name, data); });
  }
  source.addEventListener("end", () => source.close());
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED || ++failures > 5) {
      source.close(); startPolling(runId);  // EventSource gave up: poll with backoff
    } else { showConnection("Reconnecting…"); }  // the browser retries with Last-Event-ID
  };
}

function startPolling(runId) {
  showConnection("Live updates unavailable; checking periodically…");
  let delay = 1000;
  const tick = async () => {
    const result = await api("GET", `/api/runs/${encodeURIComponent(runId)}`);
    if (state.runId !== runId) return;  // another run was opened meanwhile
    if (result.status === 404) { showConnection(""); localStorage.removeItem(RUN_KEY); return; }
    if (result.status === 401) { showConnection(""); alertBox("Your session has ended; sign in again."); return; }
    if (result.status === 200) {
      const run = result.data.data; renderRun(run);
      if (TERMINAL.includes(run.status)) { showConnection(""); finish(run.status, run); return; }
      if ("EventSource" in window && state.liveRetries < LIVE_RETRIES) {  // the server answers again
        state.liveRetries++; state.poll = null; watch(runId); return;
      }
    }
    delay = Math.min(delay * 1.5, 15000);
    state.poll = setTimeout(tick, delay);
  };
  state.poll = setTimeout(tick, delay);
}

function stopWatching() {
  if (state.source) state.source.close();
  if (state.poll) clearTimeout(state.poll);
  state.source = null; state.poll = null;
}

function showConnection(text) { const c = $("connection"); c.textContent = text; c.hidden = !text; }

// -- rendering -------------------------------------------------------------------------------

function setBar(percentage, status) {
  const pct = Math.max(0, Math.min(100, Number(percentage) || 0));
  $("fill").style.width = `${pct}%`;
  $("pct").textContent = `${pct.toFixed(pct % 1 ? 1 : 0)}%`;
  const bar = $("bar");
  bar.setAttribute("aria-valuenow", String(pct));
  if (bar.dataset.state !== status) { bar.dataset.state = status; announce(`Run ${status}`); }
}

function renderRun(run) {
  if (run.heartbeat_at) state.heartbeat = new Date(run.heartbeat_at);
  setBar(run.percentage, run.stale ? "stale" : run.status);
  $("message").textContent = run.message || "";
  if (run.steps) renderSteps(run.steps);
  renderRate(run.rate, run.eta_s);
  renderStale(run.stale);
  $("cancel").hidden = TERMINAL.includes(run.status);
  $("resume").hidden = !resumable(run);
}

function resumable(run) { return Boolean(run.resumable) && (run.status === "failed" || run.status === "cancelled"); }

function renderSteps(steps) {
  const list = $("steps"); list.replaceChildren();
  for (const s of steps) {
    const li = document.createElement("li");
    li.dataset.status = s.status; li.dataset.step = s.name;
    const counts = s.total ? ` — ${s.processed} of ${s.total}${s.skipped ? `, ${s.skipped} skipped` : ""}` : "";
    li.textContent = `${s.name} (${s.status.replace("_", " ")})${counts}`;
    list.append(li);
  }
}

function renderProgress(data) {
  state.heartbeat = new Date();
  setBar(data.percentage, data.status);
  $("message").textContent = data.message || "";
  renderRate(data.rate, data.eta_s);
  renderStale(false);
  if (data.step) {
    const li = $("steps").querySelector(`[data-step="${CSS.escape(data.step.name)}"]`);
    if (li) {
      li.dataset.status = data.step.status;
      const counts = data.total ? ` — ${data.processed} of ${data.total}${data.skipped ? `, ${data.skipped} skipped` : ""}` : "";
      li.textContent = `${data.step.name} (${data.step.status.replace("_", " ")})${counts}`;
      if (data.step.status === "completed") {  // the steps before are done too
        let prev = li.previousElementSibling;
        while (prev) { if (prev.dataset.status !== "completed") prev.dataset.status = "completed"; prev = prev.previousElementSibling; }
      }
    }
  }
}

function renderRate(rate, eta) {
  $("rate").textContent = rate ? `${Math.round(rate).toLocaleString()} items/s` + (eta != null ? ` · about ${Math.ceil(eta)} s left` : "") : "";
}

function renderStale(stale) {
  const badge = $("stale");
  if (stale && state.heartbeat) badge.textContent = `No update for ${ago(Date.now() - state.heartbeat.getTime())}`;
  if (badge.hidden === stale) announce(stale ? badge.textContent : "Updates are arriving again");
  badge.hidden = !stale;
}

// Money arrives as an exact decimal string; group its digits without turning it into a float.
function grouped(amount) {
  const [whole, cents] = String(amount).split(".");
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (cents !== undefined ? `.${cents}` : "");
}

function ago(ms) {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 120) return `${s} seconds`;
  const m = Math.round(s / 60);
  return `${m} minutes`;
}

async function onTerminal(name, data) {
  const status = { complete: "completed", error: "failed", cancelled: "cancelled" }[name];
  const result = await api("GET", `/api/runs/${encodeURIComponent(state.runId)}`);
  if (result.status === 200) renderRun(result.data.data); else setBar(data.percentage, status);
  finish(status, result.status === 200 ? result.data.data : data);
}

function finish(status, run) {
  stopWatching(); setBusy(false); showConnection(""); $("stale").hidden = true;
  $("cancel").hidden = true;
  $("resume").hidden = !resumable(run);
  const summary = $("summary"); summary.replaceChildren(); summary.hidden = false;
  const p = document.createElement("p");
  if (status === "completed" && run.result && run.result.dry_run) {
    summary.append(...previewSummary(run.result));
  } else if (status === "completed" && run.result && run.result.document_no) {
    const r = run.result;
    const skipped = Object.entries(r.skipped || {}).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") || "none";
    const reversal = r.reverses ? ` It reverses ${r.reverses} with ${r.reversal_no}.` : "";
    p.textContent = `Posted ${r.records_processed} entries (${r.document_no}), total ${grouped(r.total_amount)}. Skipped: ${skipped}.${reversal}`;
    summary.append(p);
    if (r.period) {
      const [y, m] = r.period.split("-").map(Number);
      const link = document.createElement("a");
      link.href = `/api/depreciation/${y}/${m}?format=csv`; link.textContent = `Download the ${r.period} journal (CSV)`;
      const docs = document.createElement("a");
      docs.href = `/api/depreciation/${y}/${m}/documents?format=csv`; docs.textContent = "its documents (CSV)";
      summary.append(link, " · ", docs);
    }
  } else if (status === "completed") {
    p.textContent = "Completed.";
    summary.append(p);
  } else {
    p.textContent = status === "cancelled" ? "Cancelled; nothing was changed." : `Failed: ${run.message || run.error || "see the log"}`;
    if (run.error_code === "stale") p.textContent += " (the worker stopped responding)";
    if (run.error_code === "worker_lost") p.textContent += " (the worker stopped)";
    summary.append(p);
  }
  announce(`Run ${status}`);
  if (status !== "failed" || run.error_code !== "stale") localStorage.removeItem(RUN_KEY);
  loadRecent();
}

// What a user wants to know before posting: entries and total, by tax group and method, skips.
function previewSummary(r) {
  const head = document.createElement("p");
  head.textContent = `Preview of ${r.period}: ${r.entries} entries, total ${grouped(r.total_amount)}. Nothing was posted.`;
  const table = document.createElement("table"); table.className = "preview";
  const rows = [
    ...Object.entries(r.totals_by_tax_group || {}).map(([k, v]) => [k === "none" ? "no tax group" : `tax group ${k.replaceAll("_", " ")}`, v]),
    ...Object.entries(r.totals_by_method || {}).map(([k, v]) => [k.replace("_", " "), v]),
  ];
  for (const [name, v] of rows) {
    const tr = document.createElement("tr");
    for (const text of [name, `${v.entries} entries`, grouped(v.amount)]) { const td = document.createElement("td"); td.textContent = text; tr.append(td); }
    table.append(tr);
  }
  const skipped = document.createElement("p");
  const reasons = Object.entries(r.skipped || {}).map(([k, v]) => `${v} ${k.replace("_", " ")} (e.g. ${((r.skipped_assets || {})[k] || []).slice(0, 3).join(", ")})`);
  skipped.textContent = `Skipped: ${reasons.join("; ") || "none"}.`;
  const parts = [head, table, skipped];
  for (const warning of r.warnings || []) { const w = document.createElement("p"); w.className = "warning"; w.textContent = warning; parts.push(w); }
  return parts;
}

// -- actions and the list ---------------------------------------------------------------------

async function cancelRun() {
  const result = await api("POST", `/api/runs/${encodeURIComponent(state.runId)}/cancel`);
  if (result.status !== 202) alertBox(errorText(result));
}

async function resumeRun() {
  const result = await api("POST", `/api/runs/${encodeURIComponent(state.runId)}/resume`);
  if (result.status === 202) attach(state.runId); else alertBox(errorText(result));
}

async function resetTenant() {
  if (!confirm("Fail every pending or running run of this tenant?")) return;
  const tenant = $("who-text").textContent.split(" ")[0];
  const result = await api("POST", `/api/admin/tenants/${encodeURIComponent(tenant)}/reset`);
  if (result.status === 200) { announce(`${result.data.reset_count} run(s) reset`); loadRecent(); } else alertBox(errorText(result));
}

async function loadRecent() {
  const onlyFailed = $("only-failed").checked;
  const asked = ++state.recentAsked;  // answers can arrive out of order: only the newest counts
  const result = await api("GET", `/api/runs?limit=20${onlyFailed ? "&status=failed" : ""}`);
  if (asked !== state.recentAsked) return;
  const body = $("recent-rows"); body.replaceChildren();
  if (result.status !== 200) return;
  for (const run of result.data.data) {
    const tr = document.createElement("tr");
    const seconds = run.started_at && run.finished_at ? (new Date(run.finished_at) - new Date(run.started_at)) / 1000 : null;
    const shown = run.stale ? "stale" : run.status;
    const cells = [run.id, run.kind, shown, run.started_at ? new Date(run.started_at).toLocaleString() : "—", seconds != null ? `${seconds.toFixed(1)} s` : "—"];
    cells.forEach((text, i) => { const td = document.createElement("td"); td.textContent = text; if (i === 2) td.className = `status-${shown}`; tr.append(td); });
    tr.addEventListener("click", () => attach(run.id));
    body.append(tr);
  }
}

// The stream may be silent (a long step, a lost network, a dead worker). Once the newest
// heartbeat the page knows is older than the server's stale threshold, show the badge and
// ask the server, which either has a newer heartbeat, fails the run as stale, or is away.
async function checkStale() {
  if (!state.runId || !state.heartbeat || $("run").hidden) return;
  if (TERMINAL.includes($("bar").dataset.state)) return;
  const silent = (Date.now() - state.heartbeat.getTime()) / 1000 > state.staleAfterS;
  renderStale(silent);
  if (!silent || state.poll || Date.now() - state.lastCheck < STALE_CHECK_EVERY_MS) return;
  state.lastCheck = Date.now();
  const runId = state.runId;
  const result = await api("GET", `/api/runs/${encodeURIComponent(runId)}`);
  if (result.status !== 200 || state.runId !== runId) return;
  const run = result.data.data; renderRun(run);
  if (TERMINAL.includes(run.status)) finish(run.status, run);
  else renderStale(run.stale || (Date.now() - state.heartbeat.getTime()) / 1000 > state.staleAfterS);
}
setInterval(checkStale, 1000);

document.addEventListener("DOMContentLoaded", () => {
  fillPeriodPickers();
  $("sign-in-form").addEventListener("submit", signIn);
  $("start-form").addEventListener("submit", start);
  $("preview-button").addEventListener("click", preview);
  $("post-anyway").addEventListener("click", postAnyway);
  $("sign-out").addEventListener("click", signOut);
  $("cancel").addEventListener("click", cancelRun);
  $("resume").addEventListener("click", resumeRun);
  $("reset-tenant").addEventListener("click", resetTenant);
  $("only-failed").addEventListener("change", loadRecent);
  restore();
});
