// The page's view of a batch: one row per child (its name, bar, current step, status and
// how long it took) above the batch's combined bar, a `<progress-run batch>` element made
// while a batch is shown. The rows follow that element's events, so one stream feeds both:
// a snapshot of the batch (`GET api/batches/{id}`, read when it opens, each time its stream
// opens again, when a child fails, is cancelled or is skipped, and at the end) redraws every
// row; a progress event moves the row of its `child`. Whatever is older than the newest event
// drawn (a snapshot that travelled slowly) moves nothing.

import { el } from "{{start-form.js}}";

const ENDED = ["succeeded", "failed", "cancelled", "skipped"];
const STOPPED = ["failed", "cancelled", "skipped"];  // each with a reason
const MARK = { pending: "○", running: "▶", succeeded: "✔", failed: "✖", cancelled: "■", skipped: "–" };
const COUNTED = {  // a count and how it is said
  running: "running", failed: "failed", cancelled: "cancelled", skipped: "skipped", pending: "waiting",
};

/** "1 of 4 done · 1 failed · 1 skipped · 1 waiting": done is succeeded; the rest only when
 * there are some. */
export function countsText(counts) {
  const size = Object.values(counts).reduce((a, b) => a + b, 0);
  const n = (value) => Number(value).toLocaleString();
  const parts = [`${n(counts.succeeded)} of ${n(size)} done`];
  for (const [name, said] of Object.entries(COUNTED)) if (counts[name]) parts.push(`${n(counts[name])} ${said}`);
  return parts.join(" · ");
}

/** "1.2 s", "3 min 5 s", or "—" for a child that has not started. `now` is the server's time
 * (a running child's start is the server's too). */
export function took(child, now = Date.now()) {
  let seconds = child.duration_s;
  if (seconds == null && child.started_at) {
    const end = child.finished_at ? Date.parse(child.finished_at) : child.status === "running" ? now : null;
    if (end !== null) seconds = Math.max(0, (end - Date.parse(child.started_at)) / 1000);
  }
  if (seconds == null) return "—";
  const tenths = Math.round(seconds * 10) / 10;
  if (tenths < 120) return `${tenths.toLocaleString(undefined, { maximumFractionDigits: 1 })} s`;
  const whole = Math.round(seconds);  // rounded once: 179.6 s is "3 min 0 s", never "2 min 60 s"
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** A row's percentage, floored to a tenth: it reads 100 only once the child has succeeded. */
function percent(child) {
  if (child.status === "succeeded") return 100;
  const pct = Math.max(0, Math.min(100, Number(child.percentage) || 0));
  return Math.min(99.9, Math.floor(pct * 10) / 10);
}

function stepText(step) {
  if (!step) return "";
  return step.status === "in_progress" ? step.name : `${step.name} (${step.status.replace("_", " ")})`;
}

/** One child's row; `aria-valuenow` and the status in words, not only its colour. */
function drawRow(child, now) {
  const pct = percent(child);
  const bar = el("div", { className: "child-bar" },
    el("div", { className: "child-fill" }), el("span", { className: "child-pct", textContent: `${pct}%` }));
  bar.firstChild.style.width = `${pct}%`;
  bar.setAttribute("role", "progressbar");
  bar.setAttribute("aria-valuemin", "0"); bar.setAttribute("aria-valuemax", "100");
  bar.setAttribute("aria-valuenow", String(pct)); bar.setAttribute("aria-label", child.name);
  const mark = el("span", { textContent: `${MARK[child.status] || ""} ` });
  mark.setAttribute("aria-hidden", "true");
  const row = el("li", { className: "child" },
    el("span", { className: "child-name", textContent: child.name }),
    el("span", { className: `child-status status-${child.status}` }, mark, child.status),
    bar,
    el("span", { className: "child-took", textContent: took(child, now) }),
    el("span", { className: "child-step", textContent: stepText(child.step) }));
  if (child.reason && child.status !== "succeeded") {
    row.append(el("p", { className: "child-reason", textContent: child.reason }));
  }
  row.dataset.index = String(child.index); row.dataset.status = child.status;
  return row;
}

export class BatchView {
  #holder; #list; #counts; #children = []; #seq = -1; #ticker = null;
  #offset = null;  // the server's clock minus the browser's, as far as the server has shown it

  /** `holder` gets the `<progress-run batch>` (its events bubble through it); `list` is the
   * rows' `<ol>`; `counts` where the counts are said. */
  constructor({ holder, list, counts }) {
    this.#holder = holder; this.#list = list; this.#counts = counts;
    holder.addEventListener("progress-run:update", (event) => this.#update(event.detail));
    holder.addEventListener("progress-run:end", (event) => this.#end(event.detail.run));
  }

  /** The batch followed, or "". */
  get batchId() { const element = this.#holder.firstElementChild; return element ? element.runId : ""; }

  /** Follow a batch (`#batch-progress`); `csrf`, `role` and `staleAfterS` as the session gives them. */
  show(batchId, { csrf, role, staleAfterS }) {
    const shown = this.#holder.firstElementChild;
    const ended = shown && ["completed", "failed", "cancelled"].includes(shown.status);
    if (shown && shown.runId === batchId && !ended) return;  // followed
    this.close();
    const element = document.createElement("progress-run");
    element.id = "batch-progress";
    element.setAttribute("batch", ""); element.setAttribute("controls", "");
    element.setAttribute("stale-after-s", String(staleAfterS));
    element.csrfToken = csrf; element.sessionRole = role;
    element.runId = batchId;
    this.#holder.replaceChildren(element);  // connected: it starts
  }

  /** Stop following (the element leaves the page, and with it every request) and forget the rows. */
  close() {
    this.#holder.replaceChildren();
    this.#children = []; this.#seq = -1; this.#offset = null;
    this.#list.replaceChildren(); this.#counts.textContent = "";
    this.#tick(false);
  }

  #update(detail) {
    const snapshot = Array.isArray(detail.children);  // the batch as the server has it
    if (detail.seq < this.#seq || (!snapshot && detail.seq === this.#seq)) return;  // older than the rows
    if (detail.seq >= 0) this.#seq = detail.seq;
    if (snapshot) {
      this.#children = detail.children.map((child) => ({ ...(this.#children[child.index] || {}), ...child }));
      for (const child of detail.children) this.#sawServerTime(child.finished_at || child.started_at);
      this.#sawServerTime(detail.heartbeat_at);
    } else if (detail.child) {
      this.#sawServerTime(detail.ts);
      // The event names only this child: the siblings it skipped are read with the batch.
      if (this.#moved(detail.child, detail.ts)) this.#holder.firstElementChild?.refresh();
    }
    if (detail.counts) this.#counts.textContent = countsText(detail.counts);
    this.#render();
  }

  /** The child that moved: its status, bar, step and reason; its times from the event's clock
   * until the next snapshot brings the server's. True when it has just failed, been cancelled
   * or been skipped. */
  #moved(ref, ts) {
    const child = this.#children[ref.index] || (this.#children[ref.index] = { index: ref.index });
    const was = child.status;
    Object.assign(child, { name: ref.name, kind: ref.kind, run_id: ref.run_id, status: ref.status,
      percentage: ref.percentage, step: ref.step });
    child.reason = ref.reason || (STOPPED.includes(ref.status) ? child.reason : null);  // said once, kept
    if (ref.status === "running" && was !== "running") {  // started, or started again by a resume
      Object.assign(child, { started_at: ts, finished_at: null, duration_s: null });
    } else if (ENDED.includes(ref.status) && was === "running" && !child.finished_at) {
      child.finished_at = ts; child.duration_s = null;
    }
    return STOPPED.includes(ref.status) && was !== ref.status;
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

  // Every timestamp the server sends was its clock's at or before it arrived: the largest
  // offset seen is the closest to its clock now. A running child's time counts from the
  // server's timestamps, never the browser's clock (which may be minutes off). It runs behind
  // by the network's delay at most, and is exact to the event while a child reports progress.
  #sawServerTime(iso) {
    const offset = iso ? Date.parse(iso) - Date.now() : NaN;
    if (!Number.isNaN(offset) && (this.#offset === null || offset > this.#offset)) this.#offset = offset;
  }

  #now() { return Date.now() + (this.#offset ?? 0); }

  #render() {
    const now = this.#now();
    this.#list.replaceChildren(...this.#children.filter(Boolean).map((child) => drawRow(child, now)));
    this.#tick(this.#children.some((child) => child && child.status === "running"));
  }

  /** While a child runs, its duration counts up. */
  #tick(on) {
    if (on && !this.#ticker) {
      this.#ticker = setInterval(() => {
        const now = this.#now();
        for (const row of this.#list.children) {
          const child = this.#children[Number(row.dataset.index)];
          if (child) row.querySelector(".child-took").textContent = took(child, now);
        }
      }, 1000);
    } else if (!on && this.#ticker) {
      clearInterval(this.#ticker); this.#ticker = null;
    }
  }
}
