"""Parsing and validating an asset-register CSV (pure: text in, rows and reasons out).

A bad row never aborts an import: it is reported with its line number and
the reason, and the good rows go on.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

from progress_sse.jobs.depreciation.schedule import Method, TaxGroup, resolve_terms

COLUMNS = (
    "code", "name", "category", "acquired_on", "cost", "salvage", "life_months",
    "method", "annual_rate", "tax_group", "disposed_on",
)  # fmt: skip
REQUIRED = ("code", "name", "acquired_on", "cost", "method")
MAX_MONEY = Decimal("1e15")
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


def check_header(text: str) -> list[str]:
    """The header's columns; `CsvError` naming what is missing or unknown."""
    first = next(csv.reader(io.StringIO(text)), None)
    if not first:
        raise CsvError("The file is empty; expected a header line.")
    header = [h.strip().lower() for h in first]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CsvError(f"The header lacks required columns: {', '.join(missing)}.")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise CsvError(f"Unknown columns: {', '.join(unknown)}; allowed: {', '.join(COLUMNS)}.")
    return header


def parse_assets(text: str) -> tuple[list[AssetRow], list[BadRow]]:
    """Every data line becomes an `AssetRow` or a `BadRow` (duplicates of a code are bad)."""
    header = check_header(text)
    reader = csv.reader(io.StringIO(text))
    next(reader)
    rows: list[AssetRow] = []
    bad: list[BadRow] = []
    first_line: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
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
        line, code, name, field.get("category", "")[:100], acquired, cost, salvage,
        life_months, method, annual_rate, tax_group, disposed,
    )  # fmt: skip


def _text(field: dict[str, str], name: str, limit: int) -> str:
    value = field.get(name, "")
    if not value:
        raise ValueError(f"{name} is empty")
    if len(value) > limit or any(ord(c) < 32 for c in value):
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
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not number.is_finite() or number < 0 or number >= MAX_MONEY:
        raise ValueError(f"{name} must be a number from 0 up to 10^15")
    if -number.as_tuple().exponent > places:  # type: ignore[operator]
        raise ValueError(f"{name} has more than {places} decimal places")
    return number.quantize(Decimal(1).scaleb(-places))


def _date(field: dict[str, str], name: str) -> date:
    value = field.get(name, "")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None
