// The page's view of the accounting plugin's `asset_depreciation` kind: a month picker with
// Preview and "Post anyway" instead of a generated form, and the posting's summary with its
// journal downloads. Other kinds get the generated form of start-form.js.

import { el } from "{{start-form.js}}";

const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];

// Money arrives as an exact decimal string; group its digits without turning it into a float.
export function grouped(amount) {
  const [whole, cents] = String(amount).split(".");
  return whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (cents !== undefined ? `.${cents}` : "");
}


export const depreciationView = {
  kind: "asset_depreciation",

  /** The month picker; `page.start(params)` posts the run. */
  drawForm(_kind, page) {
    const now = new Date();
    const month = el("select", { id: "month", name: "month" });
    MONTHS.forEach((name, i) => month.add(new Option(name, String(i + 1), false, i === now.getMonth())));
    const year = el("input", { id: "year", name: "year", type: "number", min: "2000", max: "2100", required: true, value: String(now.getFullYear()) });
    const start = el("button", { id: "start-button", type: "submit", textContent: "Start" });
    const preview = el("button", { id: "preview-button", type: "button", textContent: "Preview" });
    const form = el("form", { id: "start-form" },
      el("label", { htmlFor: "month", textContent: "Month" }), month,
      el("label", { htmlFor: "year", textContent: "Year" }), year, start, preview);
    const anyway = el("button", { id: "post-anyway", type: "button", hidden: true,
      textContent: "Post anyway (the journal records it)" });
    const hint = el("p", { className: "hint", textContent: "Preview runs the same steps and shows the totals without posting anything." });
    const chosen = () => {
      const y = Number(year.value), m = Number(month.value);
      return { params: { year: y, month: m }, label: `${month.selectedOptions[0].text} ${y}` };
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { params, label } = chosen();
      if (!confirm(`Depreciate every asset for ${label}? If ${label} is already posted, its document is reversed and a new one is posted.`)) return;
      anyway.hidden = true; page.start(params);
    });
    preview.addEventListener("click", () => {  // a dry run: nothing posted, no number taken
      if (!form.reportValidity()) return;
      anyway.hidden = true; page.start({ ...chosen().params, dry_run: true });
    });
    anyway.addEventListener("click", () => {  // deliberately post past unposted months (recorded)
      const { params, label } = chosen();
      if (!confirm(`Post ${label} although earlier months are unposted? The journal records that this was allowed.`)) return;
      anyway.hidden = true; page.start({ ...params, allow_earlier_unposted: true });
    });
    form.explain = (error) => {  // this kind's refusals, in words a bookkeeper uses
      if (error.code === "period_locked") return `${chosen().label} is locked. An admin must unlock it first.`;
      if (error.code === "earlier_period_unposted") { anyway.hidden = false; return error.message; }
      return null;
    };
    return el("div", {}, form, hint, anyway);
  },

  /** What a completed run posted (or would post), with its journal's downloads. */
  summary(run, page) {
    const r = run.result || {};
    if (run.status === "cancelled") return [el("p", { textContent: "Nothing was posted: the run's transaction was rolled back." })];
    if (run.status !== "completed") return [];
    const said = el("p", { className: "run-summary", textContent: run.summary || "" });  // the kind's sentence
    if (r.dry_run) return [said, ...previewDetails(r)];
    if (!r.document_no) return [said];
    const parts = [said];
    if (r.period) {
      const [y, m] = r.period.split("-").map(Number);
      parts.push(el("a", { href: page.url(`api/depreciation/${y}/${m}?format=csv`), textContent: `Download the ${r.period} journal (CSV)` }),
        " · ", el("a", { href: page.url(`api/depreciation/${y}/${m}/documents?format=csv`), textContent: "its documents (CSV)" }));
    }
    return parts;
  },
};

// What a user wants to know before posting, past the summary: totals by tax group and
// method, examples of skipped assets, and what posting would need.
function previewDetails(r) {
  const table = el("table", { className: "preview" });
  const rows = [
    ...Object.entries(r.totals_by_tax_group || {}).map(([k, v]) => [k === "none" ? "no tax group" : `tax group ${k.replaceAll("_", " ")}`, v]),
    ...Object.entries(r.totals_by_method || {}).map(([k, v]) => [k.replace("_", " "), v]),
  ];
  for (const [name, v] of rows) {
    table.append(el("tr", {}, ...[name, `${v.entries} entries`, grouped(v.amount)].map((text) => el("td", { textContent: text }))));
  }
  const reasons = Object.entries(r.skipped || {}).map(([k, v]) => `${v} ${k.replace("_", " ")} (e.g. ${((r.skipped_assets || {})[k] || []).slice(0, 3).join(", ")})`);
  const parts = [table, el("p", { textContent: `Examples of skipped assets: ${reasons.join("; ") || "none"}.` })];
  for (const warning of r.warnings || []) parts.push(el("p", { className: "warning", textContent: warning }));
  return parts;
}
