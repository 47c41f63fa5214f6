"""The header of an asset-register CSV: the file's field separator and its columns (pure).

Files come with ',', ';' (Excel where ',' is the decimal mark, as in Indonesia
and most of Europe) or a tab between fields, and there is no setting for it:
the header line decides. It is read (CSV quoting applies) with each candidate,
and the separator is the one under which it names every required column. If
two candidates do, the one naming more known columns wins; if they still tie,
the file is refused rather than guessed. If none does, the message is the one
for the candidate that names the most known columns (what is missing, unknown
or repeated), or, when no candidate splits the line at all, which separators
were tried and which columns were expected.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

SEPARATORS = (",", ";", "\t")
SEPARATOR_NAMES = {",": "',' (comma)", ";": "';' (semicolon)", "\t": "a tab"}
COLUMNS = (
    "code", "name", "category", "acquired_on", "cost", "salvage", "life_months",
    "method", "annual_rate", "tax_group", "disposed_on",
)  # fmt: skip
REQUIRED = ("code", "name", "acquired_on", "cost", "method")
EXTRA = ("line", "reason")  # the rejected-rows CSV's own columns, ignored on import
KNOWN = frozenset(COLUMNS + EXTRA)


class CsvError(ValueError):
    """The file as a whole cannot be imported (no usable header)."""


@dataclass(frozen=True, slots=True)
class Header:
    delimiter: str
    names: tuple[str, ...]  # as written in the file, for the rejected-rows CSV
    keys: tuple[str, ...]  # stripped and lower-cased, as the rows are read


def read_header(text: str) -> Header:
    """The header's separator and columns; `CsvError` saying what is wrong with it."""
    splits: dict[str, list[str]] = {}
    error: csv.Error | None = None
    for separator in SEPARATORS:
        try:
            splits[separator] = next(csv_reader(lines_of(text), separator), [])
        except csv.Error as exc:
            error = error or exc
    if not splits:
        raise CsvError(f"The header line is not valid CSV: {error}.")
    if not any(name.strip() for name in next(iter(splits.values()))):
        raise CsvError("The first line is empty; it must be the header.")
    separator = _separator(splits, error)
    names = splits[separator]
    return Header(separator, tuple(names), _checked_keys(names))


def lines_of(text: str) -> Iterator[str]:
    # newline=None: CR-only (old Mac Excel) and CRLF files read like LF ones.
    return iter(io.StringIO(text, newline=None))


def csv_reader(lines: Iterable[str], separator: str) -> Any:  # typeshed's type is private
    """Strict CSV: a stray quote is an error, not part of a field."""
    return csv.reader(lines, delimiter=separator, strict=True)


def _separator(splits: dict[str, list[str]], error: csv.Error | None) -> str:
    fits = {sep: _known(names) for sep, names in splits.items() if _has_required(names)}
    if not fits:
        raise _no_fit(splits, error)
    most = max(fits.values())
    best = [sep for sep, known in fits.items() if known == most]
    if len(best) > 1:
        both = " and at ".join(SEPARATOR_NAMES[sep] for sep in best)
        raise CsvError(
            f"The header line names the required columns when split at {both} alike; "
            "use one separator between all column names."
        )
    return best[0]


def _no_fit(splits: dict[str, list[str]], error: csv.Error | None) -> CsvError:
    # max() keeps the first of equals: ',' before ';' before tab.
    best = max(splits.values(), key=lambda names: (_known(names), len(names)))
    if len(best) > 1:
        _checked_keys(best)  # raises: a required column is missing, at least
    if error is not None:
        return CsvError(f"The header line is not valid CSV: {error}.")
    tried = ", ".join(SEPARATOR_NAMES[sep] for sep in SEPARATORS)
    return CsvError(
        f"The header line is not split into columns by any separator tried ({tried}); "
        f"it must name the columns {', '.join(REQUIRED)}."
    )


def _keys(names: list[str]) -> list[str]:
    return [name.strip().lower() for name in names]


def _known(names: list[str]) -> int:
    return sum(key in KNOWN for key in _keys(names))


def _has_required(names: list[str]) -> bool:
    return set(REQUIRED) <= set(_keys(names))


def _checked_keys(names: list[str]) -> tuple[str, ...]:
    """The column keys; `CsvError` naming what is unnamed, repeated, missing or unknown."""
    header = _keys(names)
    if "" in header:
        raise CsvError(f"Column {header.index('') + 1} of the header has no name.")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise CsvError(f"The header repeats columns: {', '.join(repeated)}.")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvError(f"The header lacks required columns: {', '.join(missing)}.")
    unknown = [h for h in header if h not in KNOWN]
    if unknown:
        raise CsvError(f"Unknown columns: {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}.")
    return tuple(header)
