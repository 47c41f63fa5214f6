"""The totals of one run (pure): entries and amounts per tax group and method, skips by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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
    """Counted per asset in the hot loop: one dict update per entry, per (tax group, method);
    the totals per group, per method and overall are folded from those at the end."""

    by_terms: dict[tuple[str | None, str], list[int]] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_ids: dict[str, list[int]] = field(default_factory=dict)

    def add(self, group: str | None, method: str, cents: int, entries: int = 1) -> None:
        """`entries` entries of `cents` in all (the hot loop inlines this; see entries.py)."""
        row = self.by_terms.get((group, method))
        if row is None:
            self.by_terms[group, method] = [entries, cents]
        else:
            row[0] += entries
            row[1] += cents

    @property
    def entries(self) -> int:
        return sum(entries for entries, _ in self.by_terms.values())

    @property
    def cents(self) -> int:
        return sum(cents for _, cents in self.by_terms.values())

    @property
    def by_group(self) -> dict[str, list[int]]:
        """Tax group ("none": commercial assets) -> [entries, cents]."""
        return _fold((group or NO_TAX_GROUP, row) for (group, _), row in self.by_terms.items())

    @property
    def by_method(self) -> dict[str, list[int]]:
        """Method -> [entries, cents]."""
        return _fold((method, row) for (_, method), row in self.by_terms.items())

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


def _fold(rows: Iterable[tuple[str, list[int]]]) -> dict[str, list[int]]:
    folded: dict[str, list[int]] = {}
    for key, (entries, cents) in rows:
        total = folded.setdefault(key, [0, 0])
        total[0] += entries
        total[1] += cents
    return folded
