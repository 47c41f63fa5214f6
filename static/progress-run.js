// <progress-run>: one run's bar, steps and outcome, live from a progress-sse service.
// An ES module with no dependencies and no build step. Our own page uses it, and so can any
// page served from the same origin as the service (for example an application that mounts it
// under /progress): docs/browser-client.md shows how.
//
// What it promises: the server is the only source of truth. It shows the run's snapshot,
// follows the event stream (the browser reconnects with Last-Event-ID, so nothing is missed),
// falls back to polling with backoff when live updates are unavailable, shows a stale badge
// when the run has been silent longer than the server's threshold, and stops all network
// activity once the run has ended or the element leaves the page.

const TERMINAL = ["completed", "failed", "cancelled"];
const STREAM_END = { complete: "completed", error: "failed", cancelled: "cancelled" };
const LIVE_RETRIES = 3;  // after polling worked, try live updates again this many times
const STREAM_FAILURES = 5;  // stream errors in a row before polling takes over
const STALE_CHECK_EVERY_MS = 5000;  // while silent past the threshold, ask the server this often
const DEFAULT_STALE_AFTER_S = 300;
const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;  // what run ids are made of: anything else finds nothing

/** The service's root URL: this module is served one folder below it (client/ or assets/). */
export const SERVICE_ROOT = new URL("../", import.meta.url).href;

/** A request to the service, relative to `root`, answered in JSON: never throws (status 0 when
 * offline). `body` is sent as JSON; `raw` (a File or Blob, or null for none) as it is. */
export async function request(root, method, path, { body, raw, csrf } = {}) {
  const headers = { "Accept": "application/json" };
  let payload;
  if (raw) {
    payload = raw; headers["Content-Type"] = raw.type || "application/octet-stream";
  } else if (raw === undefined && body !== undefined) {
    payload = JSON.stringify(body); headers["Content-Type"] = "application/json";
  }
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(new URL(path, root), { method, headers, credentials: "same-origin", body: payload });
  } catch {
    return { status: 0, data: {} };  // offline or the server is gone: callers retry, never crash
  }
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

/** The message a person should read for a failed request. */
export function errorText(result) {
  if (result.status === 0) return "The server cannot be reached; try again in a moment.";
  const error = (result.data && result.data.error) || {};
  return error.message || `Request failed (${result.status}).`;
}

/** "12 seconds", "3 minutes": how long the run has been silent. */
export function ago(ms) {
  const s = Math.max(1, Math.round(ms / 1000));
  return s < 120 ? `${s} seconds` : `${Math.round(s / 60)} minutes`;
}

/** The sentence for a run that has ended. */
export function outcomeText(run) {
  if (run.status === "completed") return "Completed.";
  if (run.status === "cancelled") return run.message || "Cancelled.";  // the server says what stays
  let text = `Failed: ${run.message || run.error || "see the server log"}`;
  if (run.error_code === "stale") text += " (the worker stopped responding)";
  if (run.error_code === "worker_lost") text += " (the worker stopped)";
  return text;
}

/** "40 of 120, 3 skipped" for a step with a known total, else "". */
function counts(processed, total, skipped) {
  const n = (value) => Number(value).toLocaleString();  // the browser's locale: 1.200 in Indonesian
  return total ? ` — ${n(processed)} of ${n(total)}${skipped ? `, ${n(skipped)} skipped` : ""}` : "";
}

function stepText(name, status, processed, total, skipped) {
  return `${name} (${status.replace("_", " ")})${counts(processed, total, skipped)}`;
}

const TEMPLATE = `
<style>
  :host { display: block; --progress-run-track: #e5e7eb; --progress-run-running: #1f5fbf;
    --progress-run-ok: #1b7f3b; --progress-run-bad: #b42318; --progress-run-muted: #6b7280;
    --progress-run-warn: #b45309; }
  [hidden] { display: none !important; }
  .bar { position: relative; height: 1.6rem; background: var(--progress-run-track); border-radius: .3rem;
    overflow: hidden; }
  .fill { height: 100%; width: 0; background: var(--progress-run-running); transition: width .2s ease-out; }
  .bar[data-state="completed"] .fill { background: var(--progress-run-ok); }
  .bar[data-state="failed"] .fill, .bar[data-state="stale"] .fill { background: var(--progress-run-bad); }
  .bar[data-state="cancelled"] .fill, .bar[data-state="paused"] .fill { background: var(--progress-run-muted); }
  .pct { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
    font-weight: 600; }
  .message, .outcome { overflow-wrap: anywhere; }  /* a name of 100 letters without a space */
  .rate { color: var(--progress-run-muted); font-size: .9rem; }
  .connection { color: var(--progress-run-warn); }
  .stale { color: #fff; background: var(--progress-run-warn); padding: .2rem .5rem; border-radius: .3rem;
    display: inline-block; }
  .steps { list-style: none; padding: 0; margin: .5rem 0; }
  .steps li { padding: .2rem 0; overflow-wrap: anywhere; }
  .steps li[data-status="completed"]::before { content: "✔ "; color: var(--progress-run-ok); }
  .steps li[data-status="in_progress"]::before { content: "▶ "; color: var(--progress-run-running); }
  .steps li[data-status="failed"]::before { content: "✖ "; color: var(--progress-run-bad); }
  .steps li[data-status="pending"]::before, .steps li[data-status="skipped"]::before {
    content: "○ "; color: var(--progress-run-muted); }
  .steps li[data-status="cancelled"]::before { content: "■ "; color: var(--progress-run-muted); }
  .outcome[data-status="failed"] { color: var(--progress-run-bad); }
  .actions { display: flex; gap: .5rem; flex-wrap: wrap; }
  button { padding: .4rem .9rem; border-radius: .3rem; border: 1px solid #999; background: #f6f6f6; cursor: pointer;
    font: inherit; }
  button[aria-disabled="true"] { opacity: .6; cursor: progress; }
  .visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style>
<p id="connection" class="connection" part="connection" hidden></p>
<p id="stale" class="stale" part="stale" hidden></p>
<div id="bar" class="bar" part="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"
     aria-valuenow="0" aria-label="Progress" data-state="pending" tabindex="-1">
  <div id="fill" class="fill" part="fill"></div><span id="pct" class="pct" part="percentage">0%</span>
</div>
<p id="message" class="message" part="message"></p>
<p id="rate" class="rate" part="rate"></p>
<ol id="steps" class="steps" part="steps"></ol>
<p id="outcome" class="outcome" part="outcome" hidden></p>
<div class="actions" part="actions">
  <button id="pause" type="button" part="pause" hidden>Pause</button>
  <button id="cancel" type="button" part="cancel" hidden>Cancel</button>
  <button id="resume" type="button" part="resume" hidden>Resume</button>
</div>
<div id="announce" class="visually-hidden" aria-live="polite"></div>
`;

/**
 * `<progress-run run-id="…">`: attributes `run-id` (required), `base` (the service's root
 * URL; default: where this module was served from), `controls` (show Pause, Cancel and
 * Resume; Pause only for a run whose kind can pause, and for a batch),
 * `stale-after-s` (default: the signed-in session's, else 300), `batch` (the id is a
 * batch's: follow `api/batches/{id}`, whose stream keeps a run's contract).
 *
 * Properties (set only): `csrfToken` and `sessionRole` (`admin` or `member`: a batch with
 * `admin_only` offers Resume only to an admin), as the page's session has them; without them
 * the element asks `api/session`.
 *
 * Events (bubbling, composed): `progress-run:update` (detail: the run or progress event),
 * `progress-run:end` (detail: {status, run}), `progress-run:problem` (detail: {status,
 * message}: signed out, not found).
 */
export class ProgressRun extends HTMLElement {
  static observedAttributes = ["run-id", "base", "controls", "batch"];

  #root;
  #source = null;
  #poll = null;
  #ticker = null;
  #heartbeat = null;  // Date of the newest sign of life the element knows
  #lastCheck = 0;
  #liveRetries = 0;
  #generation = 0;  // bumps on every (re)start and on removal: answers for an older run are dropped
  #seq = -1;  // the newest event drawn, from the stream or a snapshot: anything older is not drawn
  #staleAfterS = null;
  #csrf = null;
  #role = null;  // the session's role, when known
  #run = null;
  #writing = new Map();  // action -> its request in flight: one at a time

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: "open" });
    this.#root.innerHTML = TEMPLATE;
    this.#el("cancel").addEventListener("click", () => this.cancel());
    this.#el("resume").addEventListener("click", () => this.resume());
    this.#el("pause").addEventListener("click", () => this.pause());
  }

  /** The run's id (the `run-id` attribute). */
  get runId() { return this.getAttribute("run-id") || ""; }
  set runId(value) { this.setAttribute("run-id", value); }

  /** The newest snapshot of the run the element knows (`GET /api/runs/{id}`), or null. */
  get run() { return this.#run; }

  /** The run's status as shown: pending, running, paused, stale, completed, failed or
   * cancelled. */
  get status() { return this.#el("bar").dataset.state; }

  /** The bar's percentage, 0-100. */
  get percentage() { return Number(this.#el("bar").getAttribute("aria-valuenow")); }

  get #base() {
    const base = new URL(this.getAttribute("base") || SERVICE_ROOT, document.baseURI).href;
    return base.endsWith("/") ? base : `${base}/`;  // "/progress" is the service's root too
  }
  get #batch() { return this.hasAttribute("batch"); }
  get #runPath() { return `api/${this.#batch ? "batches" : "runs"}/${encodeURIComponent(this.runId)}`; }

  connectedCallback() {
    // `el.runId = …` set before this module loaded is an own property hiding the setter.
    if (Object.hasOwn(this, "runId")) { const id = this.runId; delete this.runId; this.runId = id; return; }
    this.#start();
  }
  disconnectedCallback() {
    this.#generation++;  // a start still awaiting its snapshot, or a poll's answer, stops there
    this.#stop(); clearInterval(this.#ticker); this.#ticker = null;
  }

  attributeChangedCallback(name, before, after) {
    if (name === "controls") { this.#renderControls(); return; }
    if (before !== after && this.isConnected) this.#start();
  }

  /** Ask the server to cancel the run; resolves to the answer ({status, data}). */
  cancel() { return this.#once("cancel", () => this.#write("cancel", 202)); }

  /** Ask the server to pause the run at its next chunk's end (a batch: between children);
   * the stream then says `paused`, and Resume continues it. */
  pause() {
    return this.#once("pause", async () => {
      const result = await this.#write("pause", 202);
      if (result.status === 202 && this.isConnected && result.data && result.data.data) {
        const run = result.data.data;
        if (run.seq >= this.#seq) this.#renderRun(run);  // "Pausing…" until the chunk ends
      }
      return result;
    });
  }

  /** Ask the server to resume the failed, cancelled or paused run, and follow it again. */
  resume() {
    return this.#once("resume", async () => {
      const result = await this.#write("resume", 202);
      if (result.status === 202 && this.isConnected) this.#start();
      return result;
    });
  }

  /** Read the run again and draw it, while following it live (a page that knows something
   * moved that the events do not name: a batch's skipped children). */
  async refresh() { await this.#refresh(this.#generation); }

  // -- lifecycle -----------------------------------------------------------------------

  async #start() {
    this.#stop();
    const generation = ++this.#generation;
    this.#run = null; this.#heartbeat = null; this.#liveRetries = 0; this.#seq = -1;
    this.#el("outcome").hidden = true; this.#el("steps").replaceChildren();
    this.#el("bar").setAttribute("aria-label", this.#batch ? "Batch progress" : "Progress");
    this.#setBar(0, "pending"); this.#el("message").textContent = ""; this.#el("rate").textContent = "";
    this.#renderStale(false); this.#showConnection(""); this.#renderControls();
    if (!this.runId) return;
    if (!RUN_ID.test(this.runId)) { this.#problem({ status: 404 }); return; }  // never a path
    if (!this.#ticker) this.#ticker = setInterval(() => this.#checkStale(), 1000);
    if (this.#staleAfterS === null) {
      const staleAfterS = await this.#sessionStaleAfter();
      if (generation !== this.#generation) return;  // removed (or restarted) meanwhile
      this.#staleAfterS = staleAfterS;
    }
    const snapshot = await this.#read();
    if (generation !== this.#generation) return;
    if (snapshot.status === 200) {
      this.#renderRun(snapshot.data.data);
      if (TERMINAL.includes(snapshot.data.data.status)) { this.#finish(snapshot.data.data); return; }
    } else if (this.#problem(snapshot)) {
      return;
    }
    this.#watch(generation, { first: true });
  }

  #stop() {
    if (this.#source) this.#source.close();
    if (this.#poll) clearTimeout(this.#poll);
    this.#source = null; this.#poll = null;
  }

  async #sessionStaleAfter() {
    const attribute = Number(this.getAttribute("stale-after-s"));
    if (attribute > 0) return attribute;
    const session = await this.#get("api/session");
    if (session.status === 200) this.#useSession(session.data);
    return (session.status === 200 && session.data.stale_after_s) || DEFAULT_STALE_AFTER_S;  // none when signed out
  }

  #useSession(session) {
    this.#csrf = session.csrf_token || null;
    this.#role = session.role || this.#role;
  }

  /** The run as the server has it. An answer can be older than events drawn while it travelled
   * (read before they were written, delivered after them): it is asked again, never drawn. */
  async #read() {
    const generation = this.#generation;
    for (let tries = 0; tries < 3 && generation === this.#generation; tries++) {
      const result = await this.#get(this.#runPath);
      if (result.status !== 200 || !(result.data.data.seq < this.#seq)) return result;
    }
    return { status: 0, data: {} };  // still behind, or no longer wanted: as if unanswered
  }

  // -- following -----------------------------------------------------------------------

  #watch(generation, { first = false } = {}) {
    if (!("EventSource" in window)) { this.#startPolling(generation); return; }
    let failures = 0;
    let reread = !first;  // the start's first opening follows the snapshot it just read
    const source = new EventSource(new URL(`${this.#runPath}/events`, this.#base));
    this.#source = source;
    source.onopen = () => {
      // A batch's events name only the child that moved: each time its stream opens again (the
      // browser's reconnect, or live updates back after polling), read the whole batch again.
      // A run's replay from Last-Event-ID is complete by itself.
      if (reread && this.#batch) this.#refresh(generation);
      reread = true;
      failures = 0; this.#showConnection("");
    };
    source.onmessage = (e) => { this.#renderProgress(JSON.parse(e.data)); };
    for (const [name, status] of Object.entries(STREAM_END)) {
      source.addEventListener(name, (e) => {
        // The stream's `error` event shares its name with EventSource's own network error,
        // which is a plain Event without data: that one is handled by onerror below.
        if (!(e instanceof MessageEvent)) return;
        this.#ended(status, JSON.parse(e.data), generation, source);
      });
    }
    source.addEventListener("end", () => source.close());
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED || ++failures > STREAM_FAILURES) {
        source.close(); this.#startPolling(generation);  // the browser gave up: poll with backoff
      } else {
        this.#showConnection("Reconnecting…");  // the browser retries with Last-Event-ID
      }
    };
  }

  #startPolling(generation) {
    this.#source = null;
    this.#showConnection("Live updates unavailable; checking periodically…");
    let delay = 1000;
    const tick = async () => {
      const result = await this.#read();
      if (generation !== this.#generation) return;
      this.#poll = null;
      if (this.#problem(result)) { this.#showConnection(""); return; }
      if (result.status === 200) {
        const run = result.data.data; this.#renderRun(run);
        if (TERMINAL.includes(run.status)) { this.#finish(run); return; }
        if ("EventSource" in window && this.#liveRetries < LIVE_RETRIES) {  // the server answers again
          this.#liveRetries++; this.#watch(generation); return;
        }
      }
      delay = Math.min(delay * 1.5, 15000);
      this.#poll = setTimeout(tick, delay);
    };
    this.#poll = setTimeout(tick, delay);
  }

  async #refresh(generation) {
    const result = await this.#read();
    if (result.status === 200 && generation === this.#generation && this.#source) this.#renderRun(result.data.data);
  }

  async #ended(status, event, generation, source) {
    const result = await this.#read();  // the snapshot carries result, error and steps
    if (generation !== this.#generation) return;
    if (result.status === 200 && !TERMINAL.includes(result.data.data.status)) {
      this.#renderRun(result.data.data);  // an earlier attempt's ending, replayed: the run goes on
      if (source.readyState === EventSource.CLOSED) this.#watch(generation);  // resumed meanwhile
      return;
    }
    source.close();
    const run = result.status === 200 ? result.data.data : { ...(this.#run || {}), ...event, status };
    this.#renderRun(run);
    this.#finish(run);
  }

  #finish(run) {
    this.#stop();
    this.#run = run;
    this.#showConnection(""); this.#renderStale(false);
    const outcome = this.#el("outcome");
    // A batch's message is already its ending's sentence ("Failed: b failed: … (1 of 3 succeeded)").
    outcome.textContent = (this.#batch && run.message) || outcomeText(run);
    outcome.dataset.status = run.status; outcome.hidden = false;
    this.#el("message").textContent = "";  // the outcome says it: once
    this.#renderControls();
    this.#dispatch("progress-run:end", { status: run.status, run });
  }

  // The stream may be silent (a long step, a lost network, a dead worker). Once the newest
  // sign of life is older than the server's stale threshold, show the badge and ask the
  // server, which has a newer heartbeat, fails the run as stale, or is away.
  async #checkStale() {
    if (!this.runId || !this.#heartbeat || !this.#staleAfterS) return;
    if (this.status !== "running" && this.status !== "stale") return;  // a queued run is not silent
    const silent = () => (Date.now() - this.#heartbeat.getTime()) / 1000 > this.#staleAfterS;
    this.#renderStale(silent());
    if (!silent() || this.#poll || Date.now() - this.#lastCheck < STALE_CHECK_EVERY_MS) return;
    this.#lastCheck = Date.now();
    const generation = this.#generation;
    const result = await this.#read();
    if (result.status !== 200 || generation !== this.#generation) return;
    const run = result.data.data; this.#renderRun(run);
    if (TERMINAL.includes(run.status)) this.#finish(run);
    else this.#renderStale(run.stale || silent());
  }

  // -- rendering -----------------------------------------------------------------------

  #el(id) { return this.#root.getElementById(id); }

  #setBar(percentage, status) {
    const pct = Math.max(0, Math.min(100, Number(percentage) || 0));
    this.#el("fill").style.width = `${pct}%`;
    this.#el("pct").textContent = `${pct.toFixed(pct % 1 ? 1 : 0)}%`;
    const bar = this.#el("bar");
    bar.setAttribute("aria-valuenow", String(pct));
    if (bar.dataset.state !== status) {
      bar.dataset.state = status; this.#announce(`${this.#batch ? "Batch" : "Run"} ${status}`);
    }
  }

  #renderRun(run) {
    this.#run = run;
    if (run.seq > this.#seq) this.#seq = run.seq;
    if (run.heartbeat_at) this.#heartbeat = new Date(run.heartbeat_at);
    this.#setBar(run.percentage, run.stale ? "stale" : run.status);
    this.#el("message").textContent = run.message || "";
    if (run.steps) this.#renderSteps(run.steps, run.status);
    this.#renderRate(run.rate, run.eta_s);
    this.#renderStale(Boolean(run.stale));
    this.#renderControls();
    this.#dispatch("progress-run:update", run);
  }

  #renderSteps(steps, runStatus) {
    const list = this.#el("steps"); list.replaceChildren();
    for (const s of steps) {
      // A cancel stops the step it meets: that step was cancelled, not failed.
      const status = runStatus === "cancelled" && s.status === "failed" ? "cancelled" : s.status;
      const li = document.createElement("li");
      li.dataset.status = status; li.dataset.step = s.name; li.setAttribute("part", "step");
      li.textContent = stepText(s.name, status, s.processed, s.total, s.skipped);
      list.append(li);
    }
  }

  #renderProgress(data) {
    this.#heartbeat = new Date();
    this.#renderStale(false);
    this.#showConnection("");
    if (data.seq <= this.#seq) return;  // replayed, or already in the snapshot drawn
    this.#seq = data.seq;
    const { status, percentage, message } = data;
    if (this.#run) Object.assign(this.#run, { status, percentage, message });
    this.#setBar(data.percentage, data.status);
    this.#el("message").textContent = data.message || "";
    this.#renderRate(data.rate, data.eta_s);
    this.#renderControls();
    if (data.step) {
      const li = [...this.#el("steps").children].find((item) => item.dataset.step === data.step.name);
      if (li) {
        li.dataset.status = data.step.status;
        li.textContent = stepText(data.step.name, data.step.status, data.processed, data.total, data.skipped);
        if (data.step.status === "completed") {  // the steps before are done too
          for (let prev = li.previousElementSibling; prev; prev = prev.previousElementSibling) {
            prev.dataset.status = "completed";
          }
        }
      }
    }
    this.#dispatch("progress-run:update", data);
  }

  #renderRate(rate, eta) {
    this.#el("rate").textContent = rate
      ? `${Math.round(rate).toLocaleString()} items/s` + (eta != null ? ` · about ${Math.ceil(eta)} s left` : "")
      : "";
  }

  #renderStale(stale) {
    const badge = this.#el("stale");
    if (stale && this.#heartbeat) badge.textContent = `No update for ${ago(Date.now() - this.#heartbeat.getTime())}`;
    if (badge.hidden === stale) this.#announce(stale ? badge.textContent : "Updates are arriving again");
    badge.hidden = !stale;
  }

  #renderControls() {
    const shown = this.hasAttribute("controls") && this.#run !== null;
    const status = this.#run ? this.#run.status : "pending";
    const refused = shown && this.#run.admin_only && this.#role !== null && this.#role !== "admin";  // 403
    this.#showButton("cancel", shown && !TERMINAL.includes(status));
    // A batch's `resumable` is its status's (which events move); a run's, its kind's.
    const resumable = shown && (this.#batch || this.#run.resumable);
    this.#showButton("resume", resumable && !refused && ["failed", "cancelled", "paused"].includes(status));
    const pausable = shown && (this.#batch || this.#run.pausable);
    this.#showButton("pause", pausable && ["pending", "running"].includes(status));
    const pausing = pausable && Boolean(this.#run.pause_requested) && status === "running";
    const pause = this.#el("pause");
    pause.textContent = pausing ? "Pausing…" : "Pause";
    if (pausing) pause.setAttribute("aria-disabled", "true");  // asked: it stops at the chunk's end
  }

  /** A button hidden while it has the focus hands it to the bar, never to the page's top. */
  #showButton(action, shown) {
    const button = this.#el(action);
    if (!shown && !button.hidden && this.#root.activeElement === button) this.#el("bar").focus();
    button.hidden = !shown;
    // While its request is in flight, a click does nothing (#once). Not `disabled`: that would
    // take the focus from it, to the page's top.
    if (this.#writing.has(action)) button.setAttribute("aria-disabled", "true");
    else button.removeAttribute("aria-disabled");
  }

  #showConnection(text) { const c = this.#el("connection"); c.textContent = text; c.hidden = !text; }
  #announce(text) { this.#el("announce").textContent = text; }

  #dispatch(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  // -- talking to the service ------------------------------------------------------------

  #get(path) { return request(this.#base, "GET", path); }

  /** A 401 or 404 ends following: shown, and told to the host page. */
  #problem(result) {
    if (result.status !== 401 && result.status !== 404) return false;
    this.#stop();
    const what = this.#batch ? "batch" : "run";
    const message = result.status === 401
      ? `Sign in to see this ${what}.` : `This ${what} does not exist, or is not yours.`;
    const outcome = this.#el("outcome");
    outcome.textContent = message; outcome.dataset.status = "problem"; outcome.hidden = false;
    this.#dispatch("progress-run:problem", { status: result.status, message });
    return true;
  }

  /** The session's CSRF token for writes; the element asks for it when it is not given. */
  set csrfToken(value) { this.#csrf = value || null; }

  /** The session's role (`admin` or `member`): Resume of an `admin_only` batch is an admin's. */
  set sessionRole(value) { this.#role = value || null; this.#renderControls(); }

  /** One request per action at a time: a double click sends one (its button says it is busy). */
  #once(action, work) {
    if (!this.#writing.has(action)) {
      const done = work().finally(() => { this.#writing.delete(action); this.#renderControls(); });
      this.#writing.set(action, done); this.#renderControls();
    }
    return this.#writing.get(action);
  }

  async #write(action, expected) {
    const post = () => request(this.#base, "POST", `${this.#runPath}/${action}`, { csrf: this.#csrf });
    let result = this.#csrf ? await post() : { status: 403 };
    if (result.status === 403 && !(result.data && result.data.error && result.data.error.code === "admin_required")) {
      const session = await this.#get("api/session");  // no token yet, or one of an older session
      if (session.status === 200 && session.data.signed_in) {
        this.#useSession(session.data); result = await post();
      } else {
        result = session.status === 200 ? { status: 401, data: {} } : session;
      }
    }
    if (result.status !== expected) {
      this.#dispatch("progress-run:problem", { status: result.status, message: errorText(result) });
    }
    return result;
  }
}

if (!customElements.get("progress-run")) customElements.define("progress-run", ProgressRun);
