"""Reading a date cell of an asset register (pure).

YYYY-MM-DD is always read. DD/MM/YYYY (day first, 1 or 2 digits for day and
month) is read only in a file whose decimal mark is a comma: that is the
Indonesian convention, and Indonesian spreadsheets write dates day first. In
a file with a decimal point, or whose mark is undecided, a slashed date could
be a US month-first one, so it is refused; the reason names both readings
when they differ ("01/02/2024 could be 1 February or January 2") and the
ISO form to write.
"""

from __future__ import annotations

import re
from datetime import date

from progress_sse.accounting.asset_import.amounts import DecimalMark

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SLASHED = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def read_date(text: str, mark: DecimalMark | None) -> date:
    """The date `text` means in a file with decimal mark `mark`; `ValueError` saying why not.

    Every message starts with the text itself, for the column's name in front.
    """
    if ISO_DATE.fullmatch(text):
        found = _date(int(text[:4]), int(text[5:7]), int(text[8:]))
    elif slashed := SLASHED.fullmatch(text):
        first, second, year = (int(g) for g in slashed.groups())
        if mark != "comma":
            raise ValueError(_slashed_refused(text, first, second, year))
        found = _date(year, second, first)
    else:
        found = None
    if found is None:
        shapes = "YYYY-MM-DD or DD/MM/YYYY" if mark == "comma" else "YYYY-MM-DD"
        raise ValueError(f"{text!r} is not a date ({shapes})")
    return found


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _slashed_refused(text: str, first: int, second: int, year: int) -> str:
    day_first, month_first = _date(year, second, first), _date(year, first, second)
    if day_first and month_first and day_first != month_first:
        return (
            f"{text!r} could be {first} {MONTHS[second - 1]} or {MONTHS[first - 1]} {second}; "
            f"write {day_first.isoformat()} or {month_first.isoformat()} (YYYY-MM-DD)"
        )
    only = day_first or month_first
    hint = f"; write {only.isoformat()}" if only else ""
    return f"{text!r} is not a date (YYYY-MM-DD){hint}"
