"""One month's entries of a slice of the register (pure): a depreciation run's hot loop.

Per asset everything is a plain integer or a shared tuple: the register row
as the database returned it (`register.RegisterRow`), the schedule on
integers (`schedule.month_cents`), the entry as it is posted
(`posting.Row`), and one dict update of the totals. A run calls this for
slices of a few hundred assets and reports progress between them, so the
bar moves as before at a fraction of the cost of a report per asset.
"""

from __future__ import annotations

from collections.abc import Iterable

from progress_sse.accounting.depreciation.posting import Row
from progress_sse.accounting.depreciation.register import RATE_SCALE, RegisterRow
from progress_sse.accounting.depreciation.schedule import Method, Skipped, month_cents
from progress_sse.accounting.depreciation.tally import Tally

_DECLINING = Method.DECLINING_BALANCE.value


def depreciate_rows(
    assets: Iterable[RegisterRow], index: int, tally: Tally, entries: list[Row]
) -> None:
    """Depreciate `assets` for month `index`: append their entries, count them in `tally`."""
    totals, skip, post = tally.by_terms, tally.skip, entries.append
    for asset_id, cost, salvage, life, method, rate, acquired, disposed, group in assets:
        result = month_cents(
            cost, salvage, life, method == _DECLINING, rate, RATE_SCALE, acquired, disposed,
            index,
        )  # fmt: skip
        if isinstance(result, Skipped):
            skip(result.reason.value, asset_id)
            continue
        amount, accumulated, book_value = result
        post((asset_id, amount, accumulated, book_value))
        total = totals.get((group, method))  # Tally.add, inlined: it runs per asset
        if total is None:
            totals[group, method] = [1, amount]
        else:
            total[0] += 1
            total[1] += amount
