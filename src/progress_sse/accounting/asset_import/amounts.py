"""Reading an amount written with a decimal point or a decimal comma (pure).

Under a mark ("point": 1,234,567.89; "comma": 1.234.567,89, as Indonesian and
most European spreadsheets write it) the other character is the thousands
separator. A space, a no-break space or a narrow no-break space may separate
thousands too. Grouped digits are strict: 1 to 3 digits not starting with 0,
then groups of exactly 3, one separator kind per amount. A leading '-' is read
(the caller decides whether a negative amount is allowed).

Not read, each with its own reason: a currency sign or code ("Rp 1.000",
"IDR 5"): the register has no currency column, so a sign is something we
could not check, and stripping it would hide a wrong-currency file; scientific
notation ("1.23457E+11"): a spreadsheet writes it for large numbers in General
format and rounds them to six digits, so the amount is likely not the real one.

Evidence (`proven_mark`): a cell proves a mark when it reads as a number under
that mark only ("12,5", "1.234.567", "0,125" prove comma; "0.125",
"1500000.00", "1,234,567.89" prove point). "1.234" reads under both (1234 or
1.234) and "1500" means the same under both, so neither is evidence.

When a file's mark is undecided (`None`), a cell is read on its own: if it
reads under one mark only, or to the same amount under both, that amount;
if it could be two amounts, a `ValueError` naming both and how to write it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from decimal import Decimal
from typing import Literal

DecimalMark = Literal["point", "comma"]
MARKS: tuple[DecimalMark, ...] = ("point", "comma")
CHAR: dict[DecimalMark, str] = {"point": ".", "comma": ","}
SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space (French Excel)
_CURRENCY_CODE = re.compile(r"(?i)rp|idr|usd|eur")
_SCIENTIFIC = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+")


def _pattern(decimal: str, group: str) -> re.Pattern[str]:
    separators = re.escape(group + SPACES)
    return re.compile(
        rf"(?P<sign>-?)(?P<int>[0-9]+|[1-9][0-9]{{0,2}}(?P<sep>[{separators}])[0-9]{{3}}"
        rf"(?:(?P=sep)[0-9]{{3}})*)(?:{re.escape(decimal)}(?P<frac>[0-9]+))?"
    )


_PATTERNS = {"point": _pattern(".", ","), "comma": _pattern(",", ".")}


def other(mark: DecimalMark) -> DecimalMark:
    return "comma" if mark == "point" else "point"


def read_decimal(text: str, mark: DecimalMark | None) -> Decimal:
    """The amount `text` means under `mark` (None: undecided); `ValueError` saying why not.

    The value keeps the places as written ("1,50" is Decimal("1.50")); every
    message starts with the text itself, so a caller can put the column's name
    in front of it.
    """
    if mark is None:
        return _read_undecided(text)
    value = _match(text, mark)
    if value is None:
        raise ValueError(_why_not(text, mark))
    return value


def proven_mark(text: str) -> DecimalMark | None:
    """The mark `text` proves: the only one under which it reads as a number at all."""
    readable = [mark for mark in MARKS if _match(text, mark) is not None]
    return readable[0] if len(readable) == 1 else None


def file_mark(cells: Iterable[str]) -> DecimalMark | None:
    """The one mark the cells prove; None when they prove neither or both."""
    proven: set[DecimalMark] = set()
    for cell in cells:
        mark = proven_mark(cell)
        if mark is not None:
            proven.add(mark)
            if len(proven) == len(MARKS):
                return None
    return proven.pop() if proven else None


def _match(text: str, mark: DecimalMark) -> Decimal | None:
    found = _PATTERNS[mark].fullmatch(text)
    if found is None:
        return None
    digits = found["int"] if found["sep"] is None else found["int"].replace(found["sep"], "")
    fraction = "" if found["frac"] is None else "." + found["frac"]
    return Decimal(found["sign"] + digits + fraction)


def _read_undecided(text: str) -> Decimal:
    readings = {mark: value for mark in MARKS if (value := _match(text, mark)) is not None}
    if not readings:
        raise ValueError(_why_not(text, None))
    if len(readings) == len(MARKS) and readings["point"].as_tuple() != readings["comma"].as_tuple():
        raise ValueError(_ambiguous(text, readings))
    return next(iter(readings.values()))


def _ambiguous(text: str, readings: dict[DecimalMark, Decimal]) -> str:
    # Only a single '.' or ',' before exactly three digits reads both ways.
    used: DecimalMark = "point" if "." in text else "comma"
    thousands, fraction = readings[other(used)], readings[used]
    proof = text + CHAR[other(used)] + "00"
    return (
        f"{text!r} could mean {thousands} or {fraction}; write {thousands} or {proof} "
        f"if you mean {thousands}, or upload with decimal=comma or decimal=point"
    )


def _why_not(text: str, mark: DecimalMark | None) -> str:
    if _CURRENCY_CODE.search(text) or any(unicodedata.category(c) == "Sc" for c in text):
        return f"{text!r} has a currency sign; write the number only"
    if _SCIENTIFIC.fullmatch(text):
        return (
            f"{text!r} is in scientific notation, which spreadsheets round; "
            "format the column as a number and export the file again"
        )
    return (_misplaced(text, mark) if mark else None) or f"{text!r} is not a number"


def _misplaced(text: str, mark: DecimalMark) -> str | None:
    decimal, group = CHAR[mark], CHAR[other(mark)]
    uses = f"this file uses {decimal!r} as its decimal mark"
    if text.count(decimal) > 1:
        return f"{text!r} has more than one {decimal!r}; {uses}"
    if group in text:
        return (
            f"{text!r} has a {group!r} that is not a thousands separator "
            f"(digits in groups of three); {uses}"
        )
    if any(space in text for space in SPACES):
        return f"{text!r} has a space that is not a thousands separator (digits in groups of three)"
    return None
