// The page's view of a batch: one row per child (its name, bar, current step, status and
// how long it took) above the batch's combined bar, a `<progress-run batch>` element made
// while a batch is shown. The rows follow that element's events, so one stream feeds both:
// a snapshot of the batch (`GET api/batches/{id}`, read when it opens, after a reconnect and
// at the end) redraws every row; a progress event moves the row of its `child`.

import { el } from "{{start-form.js}}";

const ENDED = ["succeeded", "failed", "cancelled", "skipped"];
const MARK = { pending: "○", running: "▶", succeeded: "✔", failed: "✖", cancelled: "■", skipped: "–" };
const COUNTED = ["running", "failed", "cancelled", "skipped"];

/** "1 of 3 done · 1 failed · 1 skipped": done is succeeded; the rest only when there are some. */
export function countsText(counts) {
  const size = Object.values(counts).reduce((a, b) => a + b, 0);
  const n = (value) => Number(value).toLocaleString();
  const parts = [`${n(counts.succeeded)} of ${n(size)} done`];
  for (const name of COUNTED) if (counts[name]) parts.push(`${n(counts[name])} ${name}`);
  return parts.join(" · ");
}

/** "1.2 s", "3 min 5 s", or "—" for a child that has not started. */
export function took(child, now = Date.now()) {
  let seconds = child.duration_s;
  if (seconds == null && child.started_at) {
    const end = child.finished_at ? new Date(child.finished_at) : child.status === "running" ? now : null;
    if (end !== null) seconds = Math.max(0, (end - new Date(child.started_at)) / 1000);
  }
  if (seconds == null) return "—";
  if (seconds < 120) return `${seconds.toLocaleString(undefined, { maximumFractionDigits: 1 })} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function percent(child) {
  const pct = child.status === "succeeded" ? 100 : Math.max(0, Math.min(100, Number(child.percentage) || 0));
  return Math.floor(pct * 10) / 10;  // never "100%" before it is
}

function stepText(step) {
  if (!step) return "";
  return step.status === "in_progress" ? step.name : `${step.name} (${step.status.replace("_", " ")})`;
}

/** One child's row; `aria-valuenow` and the status in words, not only its colour. */
function drawRow(child) {
  const pct = percent(child);
  const bar = el("div", { className: "child-bar" },
    el("div", { className: "child-fill" }), el("span", { className: "child-pct", textContent: `${pct}%` }));
  bar.firstChild.style.width = `${pct}%`;
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0"); bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(pct)); bar.setAttribute("aria-label", child.name);
  const mark = el("span", { textContent: `${MARK[child.status] || ""} ` }); mark.setAttribute("aria-hidden", "true");
  const row = el("li", { className: "child" },
    el("span", { className: "child-name", textContent: child.name }),
    el("span", { className: `child-status status-${child.status}` }, mark, child.status),
    bar,
    el("span", { className: "child-took", textContent: took(child) }),
    el("span", { className: "child-step", textContent: stepText(child.step) }));
  if (child.reason && child.status !== "succeeded") row.append(el("p", { className: "child-reason", textContent: child.reason }));
  row.dataset.index = String(child.index); row.dataset.status = child.status;
  return row;
}

export class BatchView {
  #holder; #list; #counts; #children = []; #seq = -1; #ticker = null;

  /** `holder` gets the `<progress-run batch>` (its events bubble through it); `list` is the
   * rows' `<ol>`; `counts` where the counts are said. */
  constructor({ holder, list, counts }) {
    this.#holder = holder; this.#list = list; this.#counts = counts;
    holder.addEventListener("progress-run:update", (event) => this.#update(event.detail));
    holder.addEventListener("progress-run:end", (event) => this.#end(event.detail.run));
  }

  /** The batch followed, or "". */
  get batchId() { const element = this.#holder.firstElementChild; return element ? element.runId : ""; }

  /** Follow a batch (`#batch-progress`); `csrf` and `staleAfterS` as the session gives them. */
  show(batchId, { csrf, staleAfterS }) {
    const shown = this.#holder.firstElementChild;
    if (shown && shown.runId === batchId && !["completed", "failed", "cancelled"].includes(shown.status)) return;  // followed
    this.close();
    const element = document.createElement("progress-run");
    element.id = "batch-progress";
    element.setAttribute("batch", ""); element.setAttribute("controls", "");
    element.setAttribute("stale-after-s", String(staleAfterS));
    element.csrfToken = csrf;
    element.runId = batchId;
    this.#holder.replaceChildren(element);  // connected: it starts
  }

  /** Stop following (the element leaves the page, and with it every request) and forget the rows. */
  close() {
    this.#holder.replaceChildren();
    this.#children = []; this.#seq = -1;
    this.#list.replaceChildren(); this.#counts.textContent = "";
    this.#tick(false);
  }

  #update(detail) {
    if (Array.isArray(detail.children)) {  // the batch as the server has it
      this.#children = detail.children.map((child) => ({ ...(this.#children[child.index] || {}), ...child }));
      this.#seq = detail.seq ?? this.#seq;
    } else if (detail.child && !(detail.seq <= this.#seq)) {  // an event older than the snapshot moves nothing
      this.#moved(detail.child, detail.ts);
    }
    if (detail.counts) this.#counts.textContent = countsText(detail.counts);
    this.#render();
  }

  /** The child that moved: its status, bar and step; its times from the event's clock until
   * the next snapshot brings the server's. */
  #moved(ref, ts) {
    const child = this.#children[ref.index] || (this.#children[ref.index] = { index: ref.index });
    const was = child.status;
    Object.assign(child, { name: ref.name, kind: ref.kind, run_id: ref.run_id, status: ref.status,
      percentage: ref.percentage, step: ref.step });
    if (ref.status === "running" && was !== "running") {  // started, or started again by a resume
      Object.assign(child, { started_at: ts, finished_at: null, duration_s: null, reason: null });
    } else if (ENDED.includes(ref.status) && was === "running" && !child.finished_at) {
      child.finished_at = ts; child.duration_s = null;
    }
  }

  /** The ending: every child's outcome (the snapshot's, or the terminal event's `children`). */
  #end(run) {
    for (const outcome of run.children || []) {
      this.#children[outcome.index] = { ...(this.#children[outcome.index] || {}), ...outcome };
    }
    if (run.counts) this.#counts.textContent = countsText(run.counts);
    this.#render();
    this.#tick(false);
  }

  #render() {
    this.#list.replaceChildren(...this.#children.filter(Boolean).map(drawRow));
    this.#tick(this.#children.some((child) => child && child.status === "running"));
  }

  /** While a child runs, its duration counts up. */
  #tick(on) {
    if (on && !this.#ticker) {
      this.#ticker = setInterval(() => {
        for (const row of this.#list.children) {
          const child = this.#children[Number(row.dataset.index)];
          if (child) row.querySelector(".child-took").textContent = took(child);
        }
      }, 1000);
    } else if (!on && this.#ticker) {
      clearInterval(this.#ticker); this.#ticker = null;
    }
  }
}
