// The page's view of the accounting plugin's `asset_depreciation` kind: a month picker with
// Preview and "Post anyway" instead of a generated form, "Close the month" (admins: the
// month-end close batch, with an optional file of new assets), and the posting's summary
// with its journal downloads. Other kinds get the generated form of start-form.js.

import { errorText } from "{{progress-run.js}}";
import { el } from "{{start-form.js}}";


// Money arrives as an exact decimal string. Intl formats a string exactly (never through a
// float), in the browser's locale and with the books' currency: "Rp 16.940.908.070,85".
export function money(amount, currency) {
  const options = currency ? { style: "currency", currency } : {};
  return new Intl.NumberFormat(undefined, { ...options, minimumFractionDigits: 2, maximumFractionDigits: 2 })
    .format(String(amount));
}

/** "Depreciation · November 2026" (a preview says so): what a run is, for its heading. */
export function label(run, title) {
  const p = run.params || {};
  if (!p.year || !p.month) return title;
  const month = new Date(Date.UTC(p.year, p.month - 1, 15))
    .toLocaleString(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
  return `${title} · ${month}${p.dry_run ? " · preview" : ""}`;
}

/** The month and year inputs; `chosen()` reads them: `{params: {year, month}, label: "November 2026"}`. */
function monthInputs() {
  const now = new Date();
  const month = el("select", { id: "month", name: "month" });
  const named = new Intl.DateTimeFormat(undefined, { month: "long", timeZone: "UTC" });  // the browser's language
  for (let i = 0; i < 12; i++) {
    month.add(new Option(named.format(Date.UTC(2000, i, 15)), String(i + 1), false, i === now.getMonth()));
  }
  const year = el("input", { id: "year", name: "year", type: "number", min: "2000", max: "2100", required: true,
    value: String(now.getFullYear()) });
  const chosen = () => {
    const y = Number(year.value), m = Number(month.value);
    return { params: { year: y, month: m }, label: `${month.selectedOptions[0].text} ${y}` };
  };
  return { month, year, chosen };
}

// -- the month-end close (admins): a batch, shown as one ------------------------------------

/** "Close the month" with its file input (`inline`, in the form), "Close anyway" and the hint. */
function closeControls(page, form, chosen, hideOffers) {
  const close = el("button", { id: "close-month", type: "button", textContent: "Close the month" });
  const file = el("input", { id: "close-file", type: "file", accept: ".csv,text/csv" });
  const inline = el("span", { className: "close-month", hidden: !page.admin() }, close, " ",
    el("label", { htmlFor: "close-file", textContent: "new assets (CSV, optional)" }), " ", file);
  const anyway = el("button", { id: "close-anyway", type: "button", hidden: true,
    textContent: "Close anyway (the journal records it)" });
  const hint = el("p", { className: "hint", hidden: !page.admin(), textContent: "Closing imports the file (if one "
    + "is chosen), posts the month's depreciation and then locks the month, as one batch." });
  const flow = { page, form, chosen, hideOffers, close, anyway, file, busy: false };
  close.addEventListener("click", () => closeMonth(flow, false));
  anyway.addEventListener("click", () => closeMonth(flow, true));
  return { inline, anyway, hint };
}

/** Confirm, post the close and show its batch, or say why not. One at a time: a double click
 * sends one, and the buttons say they are busy (not `disabled`, which would drop the focus). */
async function closeMonth(flow, allowEarlier) {
  const { page, form, chosen, hideOffers, close, anyway, file } = flow;
  if (flow.busy || !form.reportValidity()) return;
  const { params, label } = chosen();
  const chosenFile = file.files[0] || null;
  const imports = chosenFile ? `import ${chosenFile.name}, ` : "";
  if (!allowEarlier && !confirm(`Close ${label}? This will ${imports}post its depreciation and lock ${label}.`)) return;
  page.alert(""); hideOffers();
  const query = new URLSearchParams(allowEarlier ? { allow_earlier_unposted: "true" } : {});
  if (chosenFile) query.set("filename", chosenFile.name);
  markBusy(flow, true);
  const result = await page.send("POST", `api/close/${params.year}/${params.month}?${query}`, chosenFile);
  markBusy(flow, false);
  if (result.status === 202) { file.value = ""; page.openBatch(result.data.id); return; }
  await explainClose(page, result, label, anyway);
}

function markBusy(flow, busy) {
  flow.busy = busy;
  for (const button of [flow.close, flow.anyway]) {
    button.setAttribute("aria-disabled", String(busy)); button.classList.toggle("busy", busy);
  }
}

/** A refused close, in words a bookkeeper uses; a close of that month already running is shown. */
async function explainClose(page, result, label, anyway) {
  const error = (result.data && result.data.error) || {};
  if (error.code === "run_active" && (error.batch_id || error.run_id)) {
    if (error.batch_id) page.openBatch(error.batch_id); else await page.open(error.run_id);
    page.alert(`Work on ${label} is already running; showing it.`);  // after: opening clears the alert
    return;
  }
  if (error.code === "earlier_period_unposted") anyway.hidden = false;
  page.alert(error.code === "period_locked" ? `${label} is locked. An admin must unlock it first.` : errorText(result));
}

/** This kind's refusals of a start, in words a bookkeeper uses (null: the page says it). */
function explainStart(chosen, anyway) {
  return (error) => {
    if (error.code === "period_locked") return `${chosen().label} is locked. An admin must unlock it first.`;
    if (error.code === "earlier_period_unposted") { anyway.hidden = false; return error.message; }
    return null;
  };
}

export const depreciationView = {
  kind: "asset_depreciation",
  label,

  /** The month picker with Start, Preview and (admins) "Close the month"; `page.start(params)`
   * posts the run. */
  drawForm(_kind, page) {
    const { month, year, chosen } = monthInputs();
    const start = el("button", { id: "start-button", type: "submit", textContent: "Start" });
    const preview = el("button", { id: "preview-button", type: "button", textContent: "Preview" });
    const anyway = el("button", { id: "post-anyway", type: "button", hidden: true,
      textContent: "Post anyway (the journal records it)" });
    const form = el("form", { id: "start-form" });
    const closing = closeControls(page, form, chosen, () => hideOffers());
    const hideOffers = () => { anyway.hidden = true; closing.anyway.hidden = true; };  // "… anyway" is offered afresh
    form.append(el("label", { htmlFor: "month", textContent: "Month" }), month,
      el("label", { htmlFor: "year", textContent: "Year" }), year, start, preview, closing.inline);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { params, label } = chosen();
      const question = `Depreciate every asset for ${label}? If ${label} is already posted, its document is `
        + "reversed and a new one is posted.";
      if (confirm(question)) { hideOffers(); page.start(params); }
    });
    preview.addEventListener("click", () => {  // a dry run: nothing posted, no number taken
      if (form.reportValidity()) { hideOffers(); page.start({ ...chosen().params, dry_run: true }); }
    });
    anyway.addEventListener("click", () => {  // deliberately post past unposted months (recorded)
      const { params, label } = chosen();
      const question = `Post ${label} although earlier months are unposted? The journal records that this was allowed.`;
      if (confirm(question)) { hideOffers(); page.start({ ...params, allow_earlier_unposted: true }); }
    });
    form.explain = explainStart(chosen, anyway);
    const hint = el("p", { className: "hint",
      textContent: "Preview runs the same steps and shows the totals without posting anything." });
    return el("div", {}, form, hint, closing.hint, anyway, closing.anyway);
  },

  /** What a completed run posted (or would post), with its journal's downloads. */
  summary(run, page) {
    const r = run.result || {};
    if (run.status !== "completed") return [];  // the outcome line says what a cancel left
    const total = money(r.total_amount, r.currency);
    if (r.dry_run) {
      const said = `Preview of ${r.period}: ${r.entries.toLocaleString()} entries, total ${total}. Nothing was posted.`;
      return [el("p", { textContent: said }), ...previewDetails(r)];
    }
    if (!r.document_no) return [];
    const skipped = Object.entries(r.skipped || {})
      .map(([k, v]) => `${v.toLocaleString()} ${k.replaceAll("_", " ")}`).join(", ") || "none";
    const reversal = r.reverses ? ` It reverses ${r.reverses} with ${r.reversal_no}.` : "";
    const posted = `Posted ${r.records_processed.toLocaleString()} entries (${r.document_no}), total ${total}.`;
    const parts = [el("p", { textContent: `${posted} Skipped: ${skipped}.${reversal}` })];
    if (r.period) {
      const [y, m] = r.period.split("-").map(Number);
      parts.push(
        el("a", { href: page.url(`api/depreciation/${y}/${m}?format=csv`),
          textContent: `Download the ${r.period} journal (CSV)` }),
        " · ",
        el("a", { href: page.url(`api/depreciation/${y}/${m}/documents?format=csv`),
          textContent: "its documents (CSV)" }));
    }
    return parts;
  },
};

// What a user wants to know before posting, past the summary: totals by tax group and
// method, examples of skipped assets, and what posting would need.
function previewDetails(r) {
  const table = el("table", { className: "preview" });
  const group = (k) => (k === "none" ? "no tax group" : `tax group ${k.replaceAll("_", " ")}`);
  const rows = [
    ...Object.entries(r.totals_by_tax_group || {}).map(([k, v]) => [group(k), v]),
    ...Object.entries(r.totals_by_method || {}).map(([k, v]) => [k.replace("_", " "), v]),
  ];
  for (const [name, v] of rows) {
    const cells = [name, `${v.entries.toLocaleString()} entries`, money(v.amount, r.currency)];
    table.append(el("tr", {}, ...cells.map((text) => el("td", { textContent: text }))));
  }
  const examples = (k) => ((r.skipped_assets || {})[k] || []).slice(0, 3).join(", ");
  const reasons = Object.entries(r.skipped || {}).map(([k, v]) => `${v} ${k.replace("_", " ")} (e.g. ${examples(k)})`);
  const parts = [table, el("p", { textContent: `Examples of skipped assets: ${reasons.join("; ") || "none"}.` })];
  for (const warning of r.warnings || []) parts.push(el("p", { className: "warning", textContent: warning }));
  return parts;
}
