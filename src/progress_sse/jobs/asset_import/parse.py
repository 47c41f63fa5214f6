"""Parsing and validating an asset-register CSV (pure: text in, rows and reasons out).

A bad row never aborts an import: it is reported with its line number and
the reason, and the good rows go on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from progress_sse.jobs.depreciation.schedule import Method, TaxGroup, resolve_terms

COLUMNS = (
    "code", "name", "category", "acquired_on", "cost", "salvage", "life_months",
    "method", "annual_rate", "tax_group", "disposed_on",
)  # fmt: skip
REQUIRED = ("code", "name", "acquired_on", "cost", "method")
MAX_MONEY = Decimal("1e15")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
E = TypeVar("E", bound=StrEnum)


class CsvError(ValueError):
    """The file as a whole cannot be imported (no usable header)."""


@dataclass(frozen=True, slots=True)
class AssetRow:
    line: int
    code: str
    name: str
    category: str
    acquired_on: date
    cost: Decimal
    salvage: Decimal
    life_months: int
    method: Method
    annual_rate: Decimal | None
    tax_group: TaxGroup | None
    disposed_on: date | None


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


def _reader(text: str) -> Any:  # typeshed's csv reader type is private
    # newline=None: CR-only (old Mac Excel) and CRLF files read like LF ones.
    return csv.reader(io.StringIO(text, newline=None), strict=True)


def check_header(text: str) -> list[str]:
    """The header's columns; `CsvError` naming what is missing, unknown or repeated."""
    try:
        first = next(_reader(text), None)
    except csv.Error as exc:
        raise CsvError(f"The header line is not valid CSV: {exc}.") from None
    if not first or not any(h.strip() for h in first):
        raise CsvError("The first line is empty; it must be the header.")
    header = [h.strip().lower() for h in first]
    if "" in header:
        raise CsvError(f"Column {header.index('') + 1} of the header has no name.")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise CsvError(f"The header repeats columns: {', '.join(repeated)}.")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvError(f"The header lacks required columns: {', '.join(missing)}.")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvError(f"Unknown columns: {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}.")
    return header


def _records(text: str) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """(line, fields) per record after the header; an unreadable record yields its error."""
    reader = _reader(text)
    next(reader)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, exc
            continue
        yield reader.line_num, values


def parse_assets(text: str) -> tuple[list[AssetRow], list[BadRow]]:
    """Every data line becomes an `AssetRow` or a `BadRow` (duplicates of a code are bad)."""
    header = check_header(text)
    rows: list[AssetRow] = []
    bad: list[BadRow] = []
    first_line: dict[str, int] = {}
    for line, values in _records(text):
        if isinstance(values, csv.Error):
            bad.append(BadRow(line, f"not valid CSV ({values}); check quotes on this line"))
            continue
        if not any(v.strip() for v in values):
            continue
        try:
            row = parse_row(line, dict(zip(header, values, strict=False)), len(values), len(header))
        except ValueError as exc:
            bad.append(BadRow(line, str(exc)))
            continue
        if row.code in first_line:
            bad.append(
                BadRow(line, f"duplicate code {row.code!r} (first on line {first_line[row.code]})")
            )
            continue
        first_line[row.code] = line
        rows.append(row)
    return rows, bad


def parse_row(line: int, raw: dict[str, str], width: int, expected: int) -> AssetRow:
    if width != expected:
        raise ValueError(f"expected {expected} fields, found {width}")
    field = {k: v.strip() for k, v in raw.items()}
    code, name = _text(field, "code", 64), _text(field, "name", 200)
    category = _text(field, "category", 100) if field.get("category") else ""
    method = _choice(field, "method", Method)
    tax_group = _choice(field, "tax_group", TaxGroup) if field.get("tax_group") else None
    life = _int(field, "life_months") if field.get("life_months") else None
    rate = _decimal(field, "annual_rate", places=6) if field.get("annual_rate") else None
    life_months, annual_rate = resolve_terms(method, tax_group, life, rate)
    cost = _decimal(field, "cost")
    salvage = _decimal(field, "salvage") if field.get("salvage") else Decimal("0.00")
    if salvage > cost:
        raise ValueError("salvage is larger than cost")
    acquired = _date(field, "acquired_on")
    disposed = _date(field, "disposed_on") if field.get("disposed_on") else None
    if disposed is not None and disposed < acquired:
        raise ValueError("disposed_on is before acquired_on")
    return AssetRow(
        line, code, name, category, acquired, cost, salvage,
        life_months, method, annual_rate, tax_group, disposed,
    )  # fmt: skip


def _text(field: dict[str, str], name: str, limit: int) -> str:
    value = field.get(name, "")
    if not value:
        raise ValueError(f"{name} is empty")
    if len(value) > limit or not value.isprintable():
        raise ValueError(f"{name} must be at most {limit} printable characters")
    return value


def _choice(field: dict[str, str], name: str, enum: type[E]) -> E:
    value = field.get(name, "")
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"{name} {value!r} is not one of: {allowed}") from None


def _int(field: dict[str, str], name: str) -> int:
    value = field[name]
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1200:
        raise ValueError(f"{name} must be a whole number from 1 to 1200")
    return int(value)


def _decimal(field: dict[str, str], name: str, places: int = 2) -> Decimal:
    value = field.get(name, "")
    try:
        # Decimal() also takes "1_000" and "-0"; an amount in a register does not.
        number = Decimal(value) if "_" not in value else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ValueError(f"{name} {value!r} is not a number")
    if number.is_signed() or number >= MAX_MONEY:
        raise ValueError(f"{name} must be a number from 0 up to 10^15")
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValueError(f"{name} has more than {places} decimal places")
    return number.quantize(Decimal(1).scaleb(-places))


def _date(field: dict[str, str], name: str) -> date:
    value = field.get(name, "")
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None
