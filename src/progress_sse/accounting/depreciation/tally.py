"""The totals of one run (pure): entries and amounts per tax group and method, skips by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TypedDict

from progress_sse.accounting.depreciation.schedule import money_from_cents

NO_TAX_GROUP = "none"  # commercial assets, outside the fiscal groups
EXAMPLES = 20  # asset ids kept per skip reason, to name them in the summary


class GroupTotal(TypedDict):
    entries: int
    amount: str  # exact decimal text


class Totals(TypedDict):
    entries: int
    total_amount: str
    totals_by_tax_group: dict[str, GroupTotal]
    totals_by_method: dict[str, GroupTotal]
    skipped: dict[str, int]


@dataclass
class Tally:
    """Counted per asset in the hot loop, so each call does a few dict updates only."""

    entries: int = 0
    cents: int = 0
    by_group: dict[str, list[int]] = field(default_factory=dict)  # group -> [entries, cents]
    by_method: dict[str, list[int]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_ids: dict[str, list[int]] = field(default_factory=dict)

    def add(self, group: str | None, method: str, cents: int, entries: int = 1) -> None:
        self.entries += entries
        self.cents += cents
        for key, table in ((group or NO_TAX_GROUP, self.by_group), (method, self.by_method)):
            row = table.get(key)
            if row is None:
                table[key] = [entries, cents]
            else:
                row[0] += entries
                row[1] += cents

    def skip(self, reason: str, asset_id: int) -> None:
        self.skipped[reason] += 1
        ids = self.skipped_ids.setdefault(reason, [])
        if len(ids) < EXAMPLES:
            ids.append(asset_id)

    @property
    def skipped_count(self) -> int:
        return self.skipped.total()

    def totals(self) -> Totals:
        """The JSON totals: amounts as exact decimal text, groups and methods sorted."""
        return {
            "entries": self.entries,
            "total_amount": str(money_from_cents(self.cents)),
            "totals_by_tax_group": _table(self.by_group),
            "totals_by_method": _table(self.by_method),
            "skipped": dict(sorted(self.skipped.items())),
        }


def _table(rows: dict[str, list[int]]) -> dict[str, GroupTotal]:
    return {
        key: {"entries": entries, "amount": str(money_from_cents(cents))}
        for key, (entries, cents) in sorted(rows.items())
    }
