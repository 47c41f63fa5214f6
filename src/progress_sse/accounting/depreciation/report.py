"""A depreciation run's part of its printable report (pure: the result only).

The document, the entries, the totals per tax group and per method, what was
skipped and why, and the month's journal as CSV. Amounts are the result's
exact decimal strings, grouped as text, never through a float.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from progress_sse.accounting.depreciation.tally import NO_TAX_GROUP
from progress_sse.accounting.summaries import money
from progress_sse.jobs.report import ReportLink, ReportSection, ReportTable

NUMERIC = (1, 2)  # entries, amount
NO_GROUP_SAID = f"Tax group “{NO_TAX_GROUP}”: commercial assets, outside the fiscal groups."


def depreciation_report(result: dict[str, Any], _params: dict[str, Any]) -> list[ReportSection]:
    """Posting (or preview), totals per tax group and per method, skipped assets by reason."""
    currency = str(result.get("currency") or "")
    return [
        _document(result, currency),
        ReportSection(
            "Totals per tax group",
            tables=(_totals(result.get("totals_by_tax_group") or {}, "Tax group", currency),),
            paragraphs=(NO_GROUP_SAID,),
        ),
        ReportSection(
            "Totals per method",
            tables=(_totals(result.get("totals_by_method") or {}, "Method", currency),),
        ),
        _skipped(result.get("skipped") or {}, result.get("skipped_assets") or {}),
    ]


def _document(result: dict[str, Any], currency: str) -> ReportSection:
    dry = bool(result.get("dry_run"))
    facts = [
        ("Period", str(result.get("period", ""))),
        ("Month end", str(result.get("month_end", ""))),
        ("Document", result.get("document_no") or "none: a preview posts nothing"),
    ]
    if result.get("reverses"):
        reversal = f" (reversal {result['reversal_no']})" if result.get("reversal_no") else ""
        facts.append(("Would reverse" if dry else "Reverses", f"{result['reverses']}{reversal}"))
    facts += [
        ("Entries", f"{int(result.get('entries', 0)):,}"),
        ("Assets in the register", f"{int(result.get('assets', 0)):,}"),
        ("Total", money(result.get("total_amount", "0"), currency or None)),
    ]
    if result.get("earlier_unposted"):
        facts.append(("Earlier months left unposted from", str(result["earlier_unposted"])))
    links: tuple[ReportLink, ...] = ()
    period = str(result.get("period", ""))
    if not dry and result.get("document_no") and _is_period(period):
        year, month = period.split("-")
        month_path = f"api/depreciation/{year}/{int(month)}"
        links = (
            ReportLink(f"Journal of {period} (CSV)", f"{month_path}?format=csv"),
            ReportLink(f"Documents of {period} (CSV)", f"{month_path}/documents?format=csv"),
        )
    return ReportSection(
        "Preview (nothing was posted)" if dry else "Posting",
        facts=tuple(facts),
        paragraphs=tuple(f"Warning: {w}" for w in result.get("warnings") or []),
        links=links,
    )


def _totals(rows: Mapping[str, Any], label: str, currency: str) -> ReportTable:
    """One row per group (sorted), then the total of the rows, summed exactly."""
    body = [
        (key, f"{int(row['entries']):,}", money(row["amount"])) for key, row in sorted(rows.items())
    ]
    entries = sum(int(row["entries"]) for row in rows.values())
    amount = sum((Decimal(str(row["amount"])) for row in rows.values()), Decimal("0.00"))
    amount_head = f"Amount ({currency})" if currency else "Amount"
    return ReportTable(
        (label, "Entries", amount_head), tuple(body), numeric=NUMERIC,
        total=("Total", f"{entries:,}", money(amount)),
    )  # fmt: skip


def _skipped(counts: Mapping[str, int], examples: Mapping[str, list[str]]) -> ReportSection:
    if not counts:
        return ReportSection("Skipped assets", paragraphs=("No asset was skipped.",))
    rows = []
    for reason, count in sorted(counts.items()):
        named = list(examples.get(reason) or [])
        shown = ", ".join(named)
        if count > len(named):
            shown += f" (the first {len(named)} of {count:,})" if named else "—"
        rows.append((reason.replace("_", " "), f"{int(count):,}", shown))
    return ReportSection(
        "Skipped assets by reason",
        tables=(ReportTable(("Reason", "Assets", "Which"), tuple(rows), numeric=(1,)),),
    )


def _is_period(period: str) -> bool:
    year, _, month = period.partition("-")
    return year.isdigit() and month.isdigit() and len(year) == 4
