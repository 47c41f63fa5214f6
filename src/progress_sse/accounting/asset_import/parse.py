"""Parsing and validating an asset-register CSV (pure: text in, rows and reasons out).

A bad row never aborts an import: it is reported with its line number, its
asset code when it has one, the reason, and its values as read (for the
rejected-rows CSV of `rejected.py`), and the good rows go on.

The file's separator comes from its header (`header.py`). Its decimal mark
(`amounts.py`) is the one asked for, or with `decimal="auto"`: the point in a
','-separated file; in a ';'- or tab-separated file, the one mark its amount
cells (cost, salvage, annual_rate) prove, else undecided (`None`), where a
cell that could mean two amounts refuses its row. Dates (`dates.py`) are
YYYY-MM-DD, and also DD/MM/YYYY when the mark is a comma.

Tax rules checked here: fiscal depreciation (an asset with a tax group) has
no residual value, so its salvage must be empty or 0; a cost must be more
than 0. One leading quote before = + - @ tab or CR is dropped from every cell
(`unescape_cell`), so a rejected-rows CSV reads back as it was written.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal, TypeVar

from progress_sse.accounting.asset_import.amounts import DecimalMark, file_mark, read_decimal
from progress_sse.accounting.asset_import.dates import read_date
from progress_sse.accounting.asset_import.header import (
    COLUMNS,
    EXTRA,
    REQUIRED,
    CsvError,
    Header,
    csv_reader,
    lines_of,
    read_header,
)
from progress_sse.accounting.asset_import.rejected import rejected_csv, unescape_cell
from progress_sse.accounting.depreciation.schedule import Method, TaxGroup, resolve_terms

__all__ = [
    "COLUMNS",
    "REQUIRED",
    "AssetRow",
    "BadRow",
    "CsvError",
    "DecimalChoice",
    "DecimalMark",
    "Register",
    "check_header",
    "parse_assets",
    "parse_row",
    "read_register",
    "rejected_csv",
]

DecimalChoice = Literal["auto", "point", "comma"]
AMOUNTS = ("cost", "salvage", "annual_rate")  # the cells whose text is evidence of the mark
MAX_MONEY = Decimal("1e15")
MAX_RAW = 1000  # characters of an unreadable record kept for the rejected-rows CSV
E = TypeVar("E", bound=StrEnum)


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
    values: tuple[str, ...] = ()  # the record as read: a row refused later is written back


@dataclass(frozen=True, slots=True)
class BadRow:
    """A refused record: its code if it has a usable one, and its fields as read.

    A record that is not valid CSV has no fields: `values` holds its text (up
    to `MAX_RAW` characters) as one value, so a person can see what it was.
    """

    line: int
    reason: str
    code: str | None = None
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Register:
    """A whole file read: its rows, its refused rows, and how it was written."""

    rows: tuple[AssetRow, ...]
    bad: tuple[BadRow, ...]
    delimiter: str
    decimal: DecimalMark | None  # None: undecided, see the module docstring
    header: tuple[str, ...]  # the column names as written, in the file's order


@dataclass(frozen=True, slots=True)
class _Record:
    line: int
    values: tuple[str, ...]
    error: str | None = None


def check_header(text: str) -> list[str]:
    """The header's column keys; `CsvError` naming what is missing, unknown or repeated."""
    return list(read_header(text).keys)


def parse_assets(text: str) -> tuple[list[AssetRow], list[BadRow]]:
    """Every data line becomes an `AssetRow` or a `BadRow` (`read_register` with "auto")."""
    register = read_register(text)
    return list(register.rows), list(register.bad)


def read_register(text: str, decimal: DecimalChoice = "auto") -> Register:
    """The file's rows and refused rows, its separator, decimal mark and header."""
    if decimal not in ("auto", "point", "comma"):
        raise ValueError(f"decimal must be auto, point or comma, not {decimal!r}")
    header = read_header(text)
    records = list(_records(text, header.delimiter))
    mark = _mark(decimal, header, records)
    rows: list[AssetRow] = []
    bad: list[BadRow] = []
    first_line: dict[str, int] = {}
    for record in records:
        result = _row(record, header, mark)
        if isinstance(result, AssetRow) and result.code in first_line:
            reason = f"duplicate code {result.code!r} (first on line {first_line[result.code]})"
            result = BadRow(record.line, reason, result.code, record.values)
        if isinstance(result, AssetRow):
            first_line[result.code] = record.line
            rows.append(result)
        elif result is not None:
            bad.append(result)
    return Register(tuple(rows), tuple(bad), header.delimiter, mark, header.names)


def _records(text: str, delimiter: str) -> Iterator[_Record]:
    """Each record after the header; an unreadable one with its error and raw text."""
    taken: list[str] = []

    def lines() -> Iterator[str]:
        for line in lines_of(text):
            taken.append(line)
            yield line

    reader = csv_reader(lines(), delimiter)
    next(reader)  # the header, read by `read_header`
    while True:
        taken.clear()
        first = reader.line_num + 1  # a quoted cell may span lines: name the record's first
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # the reader goes on at the next line
            raw = "".join(taken).rstrip("\n")[:MAX_RAW]
            reason = f"not valid CSV ({exc}); check quotes on this line"
            yield _Record(first, (raw,), reason)
            continue
        yield _Record(first, tuple(values))


def _mark(decimal: DecimalChoice, header: Header, records: list[_Record]) -> DecimalMark | None:
    if decimal != "auto":
        return decimal
    if header.delimiter == ",":
        return "point"  # a decimal comma here would mean quoting every amount: ask for it
    width = len(header.keys)
    whole = (_fields(header, r.values) for r in records if len(r.values) == width and not r.error)
    return file_mark(field.get(name, "") for field in whole for name in AMOUNTS)


def _fields(header: Header, values: tuple[str, ...]) -> dict[str, str]:
    return {k: unescape_cell(v).strip() for k, v in zip(header.keys, values, strict=False)}


def _row(record: _Record, header: Header, mark: DecimalMark | None) -> AssetRow | BadRow | None:
    """The record as a row, a refused row, or None for a blank line."""
    if record.error is not None:
        return BadRow(record.line, record.error, None, record.values)
    if not any(v.strip() for v in record.values):
        return None
    field = _fields(header, record.values)
    try:
        _check_width(header.keys, len(record.values))
        return dataclasses.replace(parse_row(record.line, field, mark), values=record.values)
    except ValueError as exc:
        return BadRow(record.line, str(exc), _code_of(field), record.values)


def _code_of(field: Mapping[str, str]) -> str | None:
    """The row's code if it could be one, to name a refused row by (its values keep the rest)."""
    code = field.get("code", "")
    return code if code and len(code) <= 64 and code.isprintable() else None


def _check_width(keys: tuple[str, ...], width: int) -> None:
    # Counted without `line` and `reason`, so a re-uploaded row keeps its reason.
    if width != len(keys):
        extra = [i for i, key in enumerate(keys) if key in EXTRA]
        expected = len(keys) - len(extra)
        found = width - sum(i < width for i in extra)
        raise ValueError(f"expected {expected} fields, found {found}")


def parse_row(line: int, field: Mapping[str, str], mark: DecimalMark | None) -> AssetRow:
    """One record's stripped fields by column; `ValueError` with the reason."""
    code, name = _text(field, "code", 64), _text(field, "name", 200)
    category = _text(field, "category", 100) if field.get("category") else ""
    method = _choice(field, "method", Method)
    tax_group = _choice(field, "tax_group", TaxGroup) if field.get("tax_group") else None
    life = _int(field, "life_months") if field.get("life_months") else None
    rate = _bounded(field, "annual_rate", mark, 6) if field.get("annual_rate") else None
    life_months, annual_rate = resolve_terms(method, tax_group, life, rate)
    cost, salvage = _money(field, mark, tax_group)
    acquired = _date(field, "acquired_on", mark)
    disposed = _date(field, "disposed_on", mark) if field.get("disposed_on") else None
    if disposed is not None and disposed < acquired:
        raise ValueError("disposed_on is before acquired_on")
    return AssetRow(
        line, code, name, category, acquired, cost, salvage,
        life_months, method, annual_rate, tax_group, disposed,
    )  # fmt: skip


def _money(
    field: Mapping[str, str], mark: DecimalMark | None, tax_group: TaxGroup | None
) -> tuple[Decimal, Decimal]:
    if _number(field, "cost", mark) <= 0:
        raise ValueError("cost must be more than 0")
    cost = _bounded(field, "cost", mark, 2)
    salvage = _bounded(field, "salvage", mark, 2) if field.get("salvage") else Decimal("0.00")
    if tax_group is not None and salvage != 0:
        raise ValueError(
            f"salvage must be empty or 0 for an asset in tax group {tax_group.value!r}: "
            "fiscal depreciation has no residual value"
        )
    if salvage > cost:
        raise ValueError("salvage is larger than cost")
    return cost, salvage


def _number(field: Mapping[str, str], name: str, mark: DecimalMark | None) -> Decimal:
    try:
        return read_decimal(field.get(name, ""), mark)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def _bounded(field: Mapping[str, str], name: str, mark: DecimalMark | None, places: int) -> Decimal:
    """A non-negative amount below 10^15 with at most `places` places (trailing zeros aside)."""
    number = _number(field, name, mark)
    if number.is_signed():
        raise ValueError(f"{name} must not be negative")
    if number >= MAX_MONEY:
        raise ValueError(f"{name} must be less than 10^15")
    exact = number.quantize(Decimal(1).scaleb(-places))
    if exact != number:  # 100.000 is 100.00; 100.005 would need rounding
        raise ValueError(f"{name} has more than {places} decimal places")
    return exact


def _date(field: Mapping[str, str], name: str, mark: DecimalMark | None) -> date:
    try:
        return read_date(field.get(name, ""), mark)
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


def _text(field: Mapping[str, str], name: str, limit: int) -> str:
    value = field.get(name, "")
    if not value:
        raise ValueError(f"{name} is empty")
    if "\n" in value or "\r" in value:
        raise ValueError(f"{name} must be on one line (a quoted cell holds a line break)")
    if len(value) > limit or not value.isprintable():
        raise ValueError(f"{name} must be at most {limit} printable characters")
    return value


def _choice(field: Mapping[str, str], name: str, enum: type[E]) -> E:
    value = field.get(name, "")
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"{name} {value!r} is not one of: {allowed}") from None


def _int(field: Mapping[str, str], name: str) -> int:
    value = field[name]
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 1200:
        raise ValueError(f"{name} must be a whole number from 1 to 1200")
    return int(value)
