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
  const month = new Date(Date.UTC(p.year, p.month - 1, 15)).toLocaleString(undefined, { month: "long", year: "numeric", timeZone: "UTC" });
  return `${title} · ${month}${p.dry_run ? " · preview" : ""}`;
}


export const depreciationView = {
  kind: "asset_depreciation",
  label,

  /** The month picker; `page.start(params)` posts the run. */
  drawForm(_kind, page) {
    const now = new Date();
    const month = el("select", { id: "month", name: "month" });
    const named = new Intl.DateTimeFormat(undefined, { month: "long", timeZone: "UTC" });  // the browser's language
    for (let i = 0; i < 12; i++) month.add(new Option(named.format(Date.UTC(2000, i, 15)), String(i + 1), false, i === now.getMonth()));
    const year = el("input", { id: "year", name: "year", type: "number", min: "2000", max: "2100", required: true, value: String(now.getFullYear()) });
    const start = el("button", { id: "start-button", type: "submit", textContent: "Start" });
    const preview = el("button", { id: "preview-button", type: "button", textContent: "Preview" });
    const close = el("button", { id: "close-month", type: "button", textContent: "Close the month" });
    const file = el("input", { id: "close-file", type: "file", accept: ".csv,text/csv" });
    const closing = el("span", { className: "close-month", hidden: !page.admin() }, close, " ",
      el("label", { htmlFor: "close-file", textContent: "new assets (CSV, optional)" }), " ", file);
    const form = el("form", { id: "start-form" },
      el("label", { htmlFor: "month", textContent: "Month" }), month,
      el("label", { htmlFor: "year", textContent: "Year" }), year, start, preview, closing);
    const anyway = el("button", { id: "post-anyway", type: "button", hidden: true,
      textContent: "Post anyway (the journal records it)" });
    const closeAnyway = el("button", { id: "close-anyway", type: "button", hidden: true,
      textContent: "Close anyway (the journal records it)" });
    const hint = el("p", { className: "hint", textContent: "Preview runs the same steps and shows the totals without posting anything." });
    const closeHint = el("p", { className: "hint", hidden: !page.admin(),
      textContent: "Closing imports the file (if one is chosen), posts the month's depreciation and then locks the month, as one batch." });
    const chosen = () => {
      const y = Number(year.value), m = Number(month.value);
      return { params: { year: y, month: m }, label: `${month.selectedOptions[0].text} ${y}` };
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const { params, label } = chosen();
      if (!confirm(`Depreciate every asset for ${label}? If ${label} is already posted, its document is reversed and a new one is posted.`)) return;
      anyway.hidden = closeAnyway.hidden = true; page.start(params);
    });
    preview.addEventListener("click", () => {  // a dry run: nothing posted, no number taken
      if (!form.reportValidity()) return;
      anyway.hidden = closeAnyway.hidden = true; page.start({ ...chosen().params, dry_run: true });
    });
    anyway.addEventListener("click", () => {  // deliberately post past unposted months (recorded)
      const { params, label } = chosen();
      if (!confirm(`Post ${label} although earlier months are unposted? The journal records that this was allowed.`)) return;
      anyway.hidden = closeAnyway.hidden = true; page.start({ ...params, allow_earlier_unposted: true });
    });
    const closeMonth = async (allowEarlier) => {  // the month-end close: a batch, shown as one
      if (!form.reportValidity()) return;
      const { params, label } = chosen();
      const chosenFile = file.files[0] || null;
      const imports = chosenFile ? `import ${chosenFile.name}, ` : "";
      if (!allowEarlier && !confirm(`Close ${label}? This will ${imports}post its depreciation and lock ${label}.`)) return;
      page.alert(""); anyway.hidden = true; closeAnyway.hidden = true;
      close.disabled = true; close.classList.add("busy");
      const query = new URLSearchParams(allowEarlier ? { allow_earlier_unposted: "true" } : {});
      if (chosenFile) query.set("filename", chosenFile.name);
      const result = await page.send("POST", `api/close/${params.year}/${params.month}?${query}`, chosenFile);
      close.disabled = false; close.classList.remove("busy");
      if (result.status === 202) { file.value = ""; page.openBatch(result.data.id); return; }
      const error = (result.data && result.data.error) || {};
      if (error.code === "run_active" && error.run_id) {
        page.alert(`Work on ${label} is already running; showing it.`); page.open(error.run_id); return;
      }
      if (error.code === "earlier_period_unposted") closeAnyway.hidden = false;
      page.alert(error.code === "period_locked" ? `${label} is locked. An admin must unlock it first.` : errorText(result));
    };
    close.addEventListener("click", () => closeMonth(false));
    closeAnyway.addEventListener("click", () => closeMonth(true));
    form.explain = (error) => {  // this kind's refusals, in words a bookkeeper uses
      if (error.code === "period_locked") return `${chosen().label} is locked. An admin must unlock it first.`;
      if (error.code === "earlier_period_unposted") { anyway.hidden = false; return error.message; }
      return null;
    };
    return el("div", {}, form, hint, closeHint, anyway, closeAnyway);
  },

  /** What a completed run posted (or would post), with its journal's downloads. */
  summary(run, page) {
    const r = run.result || {};
    if (run.status !== "completed") return [];  // the outcome line says what a cancel left
    const skipped = Object.entries(r.skipped || {}).map(([k, v]) => `${v.toLocaleString()} ${k.replaceAll("_", " ")}`).join(", ") || "none";
    if (r.dry_run) {
      return [el("p", { textContent: `Preview of ${r.period}: ${r.entries.toLocaleString()} entries, total ${money(r.total_amount, r.currency)}. Nothing was posted.` }),
        ...previewDetails(r)];
    }
    if (!r.document_no) return [];
    const reversal = r.reverses ? ` It reverses ${r.reverses} with ${r.reversal_no}.` : "";
    const parts = [el("p", { textContent: `Posted ${r.records_processed.toLocaleString()} entries (${r.document_no}), total ${money(r.total_amount, r.currency)}. Skipped: ${skipped}.${reversal}` })];
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
    table.append(el("tr", {}, ...[name, `${v.entries.toLocaleString()} entries`, money(v.amount, r.currency)].map((text) => el("td", { textContent: text }))));
  }
  const reasons = Object.entries(r.skipped || {}).map(([k, v]) => `${v} ${k.replace("_", " ")} (e.g. ${((r.skipped_assets || {})[k] || []).slice(0, 3).join(", ")})`);
  const parts = [table, el("p", { textContent: `Examples of skipped assets: ${reasons.join("; ") || "none"}.` })];
  for (const warning of r.warnings || []) parts.push(el("p", { className: "warning", textContent: warning }));
  return parts;
}
