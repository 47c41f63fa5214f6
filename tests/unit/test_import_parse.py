"""Parsing an asset-register CSV: good rows become `AssetRow`, bad rows a `BadRow` with a reason.

Line numbers are 1-based with the header on line 1, and follow `csv.reader.line_num`:
blank lines count, and a record with a quoted newline is numbered by the line it ends on.
A bad row never stops the rows after it. The UTF-8 BOM is stripped by the API, not here.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from progress_sse.accounting.asset_import.parse import (
    COLUMNS,
    AssetRow,
    BadRow,
    CsvError,
    check_header,
    parse_assets,
)
from progress_sse.accounting.depreciation.schedule import Method, TaxGroup

SL = Method.STRAIGHT_LINE
DB = Method.DECLINING_BALANCE
HEADER = ",".join(COLUMNS)
GOOD: dict[str, str] = {
    "code": "AT-1",
    "name": "Laptop",
    "category": "Komputer",
    "acquired_on": "2024-03-15",
    "cost": "1000",
    "salvage": "",
    "life_months": "36",
    "method": "straight_line",
    "annual_rate": "",
    "tax_group": "",
    "disposed_on": "",
}


def row(**fields: str) -> str:
    """One CSV line in `COLUMNS` order: a good row with `fields` replaced (no quoting)."""
    values = {**GOOD, **fields}
    return ",".join(values[c] for c in COLUMNS)


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join((header, *lines)) + "\n"


def parse_one(**fields: str) -> AssetRow:
    rows, bad = parse_assets(csv_text(row(**fields)))
    assert bad == []
    assert len(rows) == 1
    return rows[0]


def parse_bad(line: str) -> BadRow:
    rows, bad = parse_assets(csv_text(line))
    assert rows == []
    assert len(bad) == 1
    return bad[0]


def reasons(bad: list[BadRow]) -> list[tuple[int, str]]:
    """(line, reason) of each bad row: what a person is told, in file order."""
    return [(b.line, b.reason) for b in bad]


def assert_exact(value: Decimal | None, expected: str) -> None:
    """Decimal equality ignores the exponent; the string shows the quantization too."""
    assert value is not None
    assert str(value) == expected


# -- check_header -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_file_is_rejected_for_lacking_a_header(text: str) -> None:
    with pytest.raises(CsvError, match=r"^The first line is empty; it must be the header\.$"):
        check_header(text)


def test_missing_required_columns_are_all_named() -> None:
    with pytest.raises(CsvError) as caught:
        check_header("code,name,cost,life_months\n")
    assert str(caught.value) == "The header lacks required columns: acquired_on, method."


def test_unknown_columns_are_named_with_the_allowed_ones() -> None:
    with pytest.raises(CsvError) as caught:
        check_header("code,name,acquired_on,cost,method,colour,Price\n")
    message = str(caught.value)
    assert message.startswith("Unknown columns: colour, price; allowed: code, name, category,")
    assert message.endswith("disposed_on.")


def test_header_is_case_and_space_insensitive_and_keeps_the_file_order() -> None:
    header = check_header(" Method ,CODE, Name,Acquired_On , cost\nAT-1,x,y,z,w\n")
    assert header == ["method", "code", "name", "acquired_on", "cost"]


def test_header_with_every_column_is_accepted() -> None:
    assert check_header(csv_text()) == list(COLUMNS)


def test_parse_assets_refuses_a_file_without_a_usable_header() -> None:
    with pytest.raises(CsvError, match="required columns: method"):
        parse_assets("code,name,acquired_on,cost\nAT-1,Laptop,2024-01-01,5\n")


# -- good rows --------------------------------------------------------------------


def test_good_row_becomes_an_asset_row_with_exact_values() -> None:
    parsed = parse_one(salvage="100.5", disposed_on="2025-06-30")
    assert "100.5" in parsed.values, "the record as read, for a row refused later"
    assert dataclasses.replace(parsed, values=()) == AssetRow(
        line=2,
        code="AT-1",
        name="Laptop",
        category="Komputer",
        acquired_on=date(2024, 3, 15),
        cost=Decimal("1000.00"),
        salvage=Decimal("100.50"),
        life_months=36,
        method=SL,
        annual_rate=None,
        tax_group=None,
        disposed_on=date(2025, 6, 30),
    )
    assert_exact(parsed.cost, "1000.00")
    assert_exact(parsed.salvage, "100.50")


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ("1000", "1000.00"),
        ("1000.5", "1000.50"),
        ("0.01", "0.01"),
        ('"1,234.5"', "1234.50"),
        (" 12.30 ", "12.30"),
        ("999999999999999.99", "999999999999999.99"),
    ],
)
def test_cost_is_quantized_to_cents(cost: str, expected: str) -> None:
    assert_exact(parse_one(cost=cost).cost, expected)


def test_missing_salvage_is_zero_cents() -> None:
    assert_exact(parse_one(salvage="").salvage, "0.00")


def test_salvage_may_equal_cost() -> None:
    assert_exact(parse_one(cost="500", salvage="500.00").salvage, "500.00")


def test_disposal_on_the_acquisition_day_is_allowed() -> None:
    assert parse_one(acquired_on="2024-03-15", disposed_on="2024-03-15").disposed_on == date(
        2024, 3, 15
    )


def test_explicit_life_applies_to_a_row_without_a_tax_group() -> None:
    parsed = parse_one(life_months="36", tax_group="")
    assert (parsed.life_months, parsed.annual_rate, parsed.tax_group) == (36, None, None)


def test_explicit_declining_balance_rate_is_kept_to_six_places() -> None:
    parsed = parse_one(method="declining_balance", annual_rate="0.4", life_months="60")
    assert parsed.method is DB
    assert_exact(parsed.annual_rate, "0.400000")


@pytest.mark.parametrize(
    ("group", "method", "life_months", "rate"),
    [
        ("1", "straight_line", 48, "0.25"),
        ("1", "declining_balance", 48, "0.50"),
        ("2", "straight_line", 96, "0.125"),
        ("2", "declining_balance", 96, "0.25"),
        ("3", "declining_balance", 192, "0.125"),
        ("4", "straight_line", 240, "0.05"),
        ("4", "declining_balance", 240, "0.10"),
        ("building_permanent", "straight_line", 240, "0.05"),
        ("building_non_permanent", "straight_line", 120, "0.10"),
    ],
)
def test_tax_group_row_takes_life_and_rate_from_its_group(
    group: str, method: str, life_months: int, rate: str
) -> None:
    parsed = parse_one(tax_group=group, method=method, life_months="", annual_rate="")
    assert parsed.tax_group == TaxGroup(group)
    assert parsed.life_months == life_months
    assert parsed.annual_rate == Decimal(rate)


def test_tax_group_wins_over_an_explicit_life_and_rate() -> None:
    parsed = parse_one(
        tax_group="1", method="declining_balance", life_months="12", annual_rate="0.9"
    )
    assert (parsed.life_months, parsed.annual_rate) == (48, Decimal("0.50"))


def test_columns_may_come_in_any_order_and_optional_ones_may_be_absent() -> None:
    text = csv_text(
        "straight_line,1200,2023-07-01,Desk,AT-7,24",
        header="Method,COST,acquired_on,name,code,life_months",
    )
    rows, bad = parse_assets(text)
    assert bad == []
    assert [(r.code, r.name, r.category, r.life_months, str(r.cost)) for r in rows] == [
        ("AT-7", "Desk", "", 24, "1200.00")
    ]


def test_header_only_file_has_no_rows() -> None:
    assert parse_assets(csv_text()) == ([], [])


# -- bad rows ---------------------------------------------------------------------

BAD_ROWS: list[tuple[dict[str, str], str]] = [
    ({"cost": "abc"}, "cost 'abc' is not a number"),
    ({"cost": ""}, "cost '' is not a number"),
    ({"cost": "-5"}, "cost must be more than 0"),
    ({"cost": "0"}, "cost must be more than 0"),
    ({"cost": "0.00"}, "cost must be more than 0"),
    ({"cost": "1000000000000000"}, "cost must be less than 10^15"),
    (
        {"cost": "1e15"},
        "cost '1e15' is in scientific notation, which spreadsheets round; "
        "format the column as a number and export the file again",
    ),
    ({"cost": "NaN"}, "cost 'NaN' is not a number"),
    ({"cost": "-0"}, "cost must be more than 0"),
    ({"salvage": "-1"}, "salvage must not be negative"),
    ({"cost": '"Rp 1,000"'}, "cost 'Rp 1,000' has a currency sign; write the number only"),
    (
        {"cost": '"1,5"'},
        "cost '1,5' has a ',' that is not a thousands separator (digits in groups of three); "
        "this file uses '.' as its decimal mark",
    ),
    (
        {"cost": "1.000.000"},
        "cost '1.000.000' has more than one '.'; this file uses '.' as its decimal mark",
    ),
    ({"cost": "1_000"}, "cost '1_000' is not a number"),
    ({"acquired_on": "20240101"}, "acquired_on '20240101' is not a date (YYYY-MM-DD)"),
    ({"code": "A\x7f"}, "code must be at most 64 printable characters"),
    ({"category": "Mesin\x9b"}, "category must be at most 100 printable characters"),
    ({"cost": "10.005"}, "cost has more than 2 decimal places"),
    ({"salvage": "x"}, "salvage 'x' is not a number"),
    ({"salvage": "0.001"}, "salvage has more than 2 decimal places"),
    ({"cost": "1000", "salvage": "1000.01"}, "salvage is larger than cost"),
    ({"acquired_on": "2024-02-30"}, "acquired_on '2024-02-30' is not a date (YYYY-MM-DD)"),
    (
        {"acquired_on": "15/03/2024"},
        "acquired_on '15/03/2024' is not a date (YYYY-MM-DD); write 2024-03-15",
    ),
    (
        {"acquired_on": "01/02/2024"},
        "acquired_on '01/02/2024' could be 1 February or January 2; "
        "write 2024-02-01 or 2024-01-02 (YYYY-MM-DD)",
    ),
    ({"acquired_on": ""}, "acquired_on '' is not a date (YYYY-MM-DD)"),
    ({"disposed_on": "soon"}, "disposed_on 'soon' is not a date (YYYY-MM-DD)"),
    (
        {"acquired_on": "2024-03-15", "disposed_on": "2024-03-14"},
        "disposed_on is before acquired_on",
    ),
    ({"method": "linear"}, "method 'linear' is not one of: straight_line, declining_balance"),
    ({"method": ""}, "method '' is not one of: straight_line, declining_balance"),
    (
        {"tax_group": "5"},
        "tax_group '5' is not one of: 1, 2, 3, 4, building_permanent, building_non_permanent",
    ),
    ({"life_months": "0"}, "life_months must be a whole number from 1 to 1200"),
    ({"life_months": "1201"}, "life_months must be a whole number from 1 to 1200"),
    ({"life_months": "12.5"}, "life_months must be a whole number from 1 to 1200"),
    ({"life_months": "abc"}, "life_months must be a whole number from 1 to 1200"),
    ({"life_months": ""}, "a useful life (in months) or a tax group is required"),
    (
        {"method": "declining_balance", "annual_rate": "", "tax_group": ""},
        "declining balance needs an annual rate or a tax group",
    ),
    (
        {"method": "declining_balance", "tax_group": "building_permanent"},
        "tax group 'building_permanent' allows straight line only, not declining balance",
    ),
    (
        {"method": "declining_balance", "tax_group": "building_non_permanent"},
        "tax group 'building_non_permanent' allows straight line only, not declining balance",
    ),
    (
        {"method": "declining_balance", "annual_rate": "1.5"},
        "annual rate must be above 0 and at most 1, got 1.500000",
    ),
    (
        {"method": "declining_balance", "annual_rate": "0"},
        "annual rate must be above 0 and at most 1, got 0.000000",
    ),
    ({"annual_rate": "0.1234567"}, "annual_rate has more than 6 decimal places"),
    ({"code": ""}, "code is empty"),
    ({"code": "   "}, "code is empty"),
    ({"code": "AT\t2"}, "code must be at most 64 printable characters"),
    ({"code": "AT\x012"}, "code must be at most 64 printable characters"),
    ({"code": "A" * 65}, "code must be at most 64 printable characters"),
    ({"name": ""}, "name is empty"),
    ({"name": "N" * 201}, "name must be at most 200 printable characters"),
]


@pytest.mark.parametrize(("fields", "reason"), BAD_ROWS, ids=[reason for _, reason in BAD_ROWS])
def test_bad_row_is_reported_on_its_line_and_later_rows_still_parse(
    fields: dict[str, str], reason: str
) -> None:
    text = csv_text(row(code="AT-1"), row(**{"code": "AT-2", **fields}), row(code="AT-3"))
    rows, bad = parse_assets(text)
    assert reasons(bad) == [(3, reason)]
    assert [(r.line, r.code) for r in rows] == [(2, "AT-1"), (4, "AT-3")]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (row() + ",extra", f"expected {len(COLUMNS)} fields, found {len(COLUMNS) + 1}"),
        (row().rsplit(",", 1)[0], f"expected {len(COLUMNS)} fields, found {len(COLUMNS) - 1}"),
        ("AT-9", f"expected {len(COLUMNS)} fields, found 1"),
    ],
    ids=["too-many", "too-few", "one-field"],
)
def test_row_with_the_wrong_number_of_fields_is_bad(line: str, reason: str) -> None:
    bad = parse_bad(line)
    assert (bad.line, bad.reason) == (2, reason)


def test_duplicate_code_is_bad_and_names_the_first_line() -> None:
    rows, bad = parse_assets(
        csv_text(row(code="AT-1"), row(code="AT-2"), row(code="AT-1"), row(code="AT-1"))
    )
    assert [r.line for r in rows] == [2, 3]
    assert reasons(bad) == [
        (4, "duplicate code 'AT-1' (first on line 2)"),
        (5, "duplicate code 'AT-1' (first on line 2)"),
    ]
    assert [b.code for b in bad] == ["AT-1", "AT-1"]


def test_code_of_a_bad_row_is_not_taken_by_it() -> None:
    rows, bad = parse_assets(csv_text(row(code="AT-1", cost="x"), row(code="AT-1")))
    assert reasons(bad) == [(2, "cost 'x' is not a number")]
    assert [(r.line, r.code) for r in rows] == [(3, "AT-1")]


def test_every_bad_row_is_reported_in_file_order_among_good_ones() -> None:
    rows, bad = parse_assets(
        csv_text(
            row(code="AT-1", cost="-1"),
            row(code="AT-2"),
            row(code="AT-3", method="sideways"),
            row(code="AT-4", acquired_on="yesterday"),
            row(code="AT-5"),
        )
    )
    assert [b.line for b in bad] == [2, 4, 5]
    assert [r.line for r in rows] == [3, 6]


# -- line numbers -----------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", ",,,", ",".join(" " * len(COLUMNS))])
def test_blank_lines_are_ignored_but_still_counted(blank: str) -> None:
    rows, bad = parse_assets(
        csv_text(
            blank, row(code="AT-1"), blank, blank, row(code="AT-2", cost="x"), row(code="AT-3")
        )
    )
    assert [(r.line, r.code) for r in rows] == [(3, "AT-1"), (7, "AT-3")]
    assert reasons(bad) == [(6, "cost 'x' is not a number")]


def test_crlf_line_endings_number_lines_like_lf() -> None:
    text = csv_text(row(code="AT-1"), row(code="AT-2", cost="x"), row(code="AT-3"))
    rows, bad = parse_assets(text.replace("\n", "\r\n"))
    assert [r.line for r in rows] == [2, 4]
    assert reasons(bad) == [(3, "cost 'x' is not a number")]


def test_a_quoted_newline_makes_a_bad_row_numbered_by_the_line_it_starts_on() -> None:
    rows, bad = parse_assets(csv_text(row(code="AT-1", category='"Two\nlines"'), row(code="AT-2")))
    # header line 1; AT-1 spans lines 2-3 and is reported where it starts; AT-2 is line 4
    assert reasons(bad) == [(2, "category must be on one line (a quoted cell holds a line break)")]
    assert [(r.line, r.code) for r in rows] == [(4, "AT-2")]


def test_bad_row_with_a_quoted_newline_does_not_shift_the_following_rows() -> None:
    rows, bad = parse_assets(
        csv_text(row(code="AT-1"), row(code="AT-2", name='"Two\nlines"'), row(code="AT-3"))
    )
    # The record spans lines 3-4 and is named by its first.
    assert reasons(bad) == [(3, "name must be on one line (a quoted cell holds a line break)")]
    assert [(r.line, r.code) for r in rows] == [(2, "AT-1"), (5, "AT-3")]


def test_cr_only_line_endings_read_like_lf() -> None:
    text = csv_text(row(code="AT-1"), row(code="AT-2")).replace("\n", "\r")
    rows, bad = parse_assets(text)
    assert bad == [] and [r.code for r in rows] == ["AT-1", "AT-2"]


def test_an_unreadable_record_is_a_bad_row_not_a_failed_import() -> None:
    rows, bad = parse_assets(csv_text(row(code="AT-1"), 'AT-2,"unclosed', row(code="AT-3")))
    assert [r.code for r in rows] == ["AT-1"]
    assert len(bad) == 1 and "not valid CSV" in bad[0].reason


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("code,code,name,acquired_on,cost,method", "repeats columns: code"),
        ("code,name,acquired_on,cost,method,", "Column 6 of the header has no name"),
    ],
)
def test_header_mistakes_are_named(header: str, message: str) -> None:
    with pytest.raises(CsvError, match=message):
        check_header(header + "\n")


def test_trailing_zeros_beyond_the_places_are_exact_and_accepted() -> None:
    parsed = parse_one(cost="100.000", method="declining_balance", annual_rate="0.1250000")
    assert_exact(parsed.cost, "100.00")
    assert_exact(parsed.annual_rate, "0.125000")
    _, bad = parse_assets(csv_text(row(cost="100.005")))
    assert reasons(bad) == [(2, "cost has more than 2 decimal places")]
