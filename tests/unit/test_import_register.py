"""A whole register read: its separator, its decimal mark, and what a refused row carries.

The header decides the separator (',', ';' or tab). With decimal="auto" a ','-file uses the
decimal point; a ';'- or tab-file uses the one mark its amount cells prove, and when they prove
neither or both, a cell that could be two amounts refuses its row. Never a silent guess.
"""

from __future__ import annotations

from datetime import date

import pytest

from progress_sse.accounting.asset_import.parse import (
    CsvError,
    DecimalChoice,
    Register,
    check_header,
    read_register,
)

COLUMNS = ("code", "name", "acquired_on", "cost", "salvage", "life_months", "method", "tax_group")
GOOD = {
    "code": "AT-1",
    "name": "Laptop",
    "acquired_on": "2024-03-15",
    "cost": "1000",
    "salvage": "",
    "life_months": "36",
    "method": "straight_line",
    "tax_group": "",
}


def register(*rows: dict[str, str], sep: str = ";", decimal: DecimalChoice = "auto") -> Register:
    """A file of `rows` (each a good row with some fields replaced), joined by `sep` unquoted."""
    lines = [sep.join(COLUMNS), *(sep.join({**GOOD, **r}[c] for c in COLUMNS) for r in rows)]
    return read_register("\n".join(lines) + "\n", decimal)


def costs(reg: Register) -> list[str]:
    return [str(r.cost) for r in reg.rows]


def reasons(reg: Register) -> list[tuple[int, str]]:
    return [(b.line, b.reason) for b in reg.bad]


# -- separator --------------------------------------------------------------------


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_the_header_decides_the_separator(sep: str) -> None:
    reg = register({"code": "AT-1"}, {"code": "AT-2"}, sep=sep)
    assert reg.delimiter == sep
    assert reg.header == COLUMNS
    assert [r.code for r in reg.rows] == ["AT-1", "AT-2"]


def test_a_quoted_header_is_read_with_its_separator() -> None:
    text = (
        '"Code";"Name";"Acquired_On";"Cost";"Method";"Life_Months"\n'
        "A;B;2024-01-01;5;straight_line;3\n"
    )
    assert check_header(text) == ["code", "name", "acquired_on", "cost", "method", "life_months"]
    assert read_register(text).header == (
        "Code",
        "Name",
        "Acquired_On",
        "Cost",
        "Method",
        "Life_Months",
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("code;name;acquired_on;cost", "The header lacks required columns: method."),
        ("code\tname\tacquired_on\tcost\tmethod\tcolour", "Unknown columns: colour; allowed:"),
        ("code;name;acquired_on;cost;method;;", "Column 6 of the header has no name."),
        ("code;code;name;acquired_on;cost;method", "The header repeats columns: code."),
    ],
)
def test_a_semicolon_or_tab_header_has_its_mistakes_named(header: str, message: str) -> None:
    with pytest.raises(CsvError) as caught:
        check_header(header + "\n")
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("header", ["code|name|acquired_on|cost|method", "asset register"])
def test_a_header_no_separator_splits_names_the_separators_tried(header: str) -> None:
    with pytest.raises(CsvError) as caught:
        check_header(header + "\n")
    assert str(caught.value) == (
        "The header line is not split into columns by any separator tried "
        "(',' (comma), ';' (semicolon), a tab); "
        "it must name the columns code, name, acquired_on, cost, method."
    )


def test_two_separators_that_both_name_the_required_columns_are_not_guessed_between() -> None:
    both = "code;name;acquired_on;cost;method;x,code,name,acquired_on,cost,method"
    with pytest.raises(CsvError) as caught:
        check_header(both + "\n")
    assert str(caught.value) == (
        "The header line names the required columns when split at ',' (comma) and at "
        "';' (semicolon) alike; use one separator between all column names."
    )


def test_of_two_fitting_separators_the_one_naming_more_known_columns_wins() -> None:
    header = "code;name;acquired_on;cost;method;x,code,name,acquired_on,cost,method,category"
    # ',' names six known columns, ';' five: ',' is the separator, and its first column is junk.
    with pytest.raises(CsvError, match=r"^Unknown columns: code;name;acquired_on;cost;method;x;"):
        check_header(header + "\n")


def test_a_header_that_is_not_csv_under_any_separator_says_so() -> None:
    with pytest.raises(CsvError, match=r"^The header line is not valid CSV: "):
        check_header('"code"x,"name"y;"cost"\tz"\n')


# -- decimal mark -----------------------------------------------------------------


def test_a_comma_separated_file_uses_the_decimal_point() -> None:
    reg = register({"cost": "1.5"}, {"code": "AT-2", "cost": '"1,234.5"'}, sep=",")
    assert (reg.decimal, costs(reg), reg.bad) == ("point", ["1.50", "1234.50"], ())


def test_a_semicolon_file_whose_cells_prove_the_comma_reads_dots_as_thousands() -> None:
    reg = register(
        {"code": "AT-1", "cost": "1.234.567,89"},
        {"code": "AT-2", "cost": "1.234", "salvage": "0,5"},
        {"code": "AT-3", "cost": "2 500,00"},
    )
    assert reg.decimal == "comma"
    assert costs(reg) == ["1234567.89", "1234.00", "2500.00"]
    assert str(reg.rows[1].salvage) == "0.50"


def test_a_tab_file_whose_cells_prove_the_point_reads_commas_as_thousands() -> None:
    reg = register(
        {"code": "AT-1", "cost": "1500000.00"}, {"code": "AT-2", "cost": "1,234"}, sep="\t"
    )
    assert (reg.decimal, costs(reg)) == ("point", ["1500000.00", "1234.00"])


def test_under_a_decided_mark_the_other_character_must_group_thousands() -> None:
    reg = register({"code": "AT-1", "cost": "12,5"}, {"code": "AT-2", "cost": "1.50.000"})
    assert reg.decimal == "comma"
    assert reasons(reg) == [
        (3, "cost '1.50.000' has a '.' that is not a thousands separator (digits in groups of "
         "three); this file uses ',' as its decimal mark"),
    ]  # fmt: skip


def test_under_an_asked_for_comma_a_point_decimal_is_refused() -> None:
    reg = register({"code": "AT-1", "cost": "1.5"}, decimal="comma")
    assert reasons(reg) == [
        (2, "cost '1.5' has a '.' that is not a thousands separator (digits in groups of "
         "three); this file uses ',' as its decimal mark"),
    ]  # fmt: skip


def test_without_evidence_plain_numbers_read_and_two_way_cells_refuse_their_row() -> None:
    reg = register(
        {"code": "AT-1", "cost": "1500"},
        {"code": "AT-2", "cost": "1.234"},
        {"code": "AT-3", "cost": "1 500"},
    )
    assert reg.decimal is None
    assert costs(reg) == ["1500.00", "1500.00"]
    assert reasons(reg) == [
        (3, "cost '1.234' could mean 1234 or 1.234; write 1234 or 1.234,00 if you mean 1234, "
         "or upload with decimal=comma or decimal=point"),
    ]  # fmt: skip


def test_a_file_proving_both_marks_reads_one_way_cells_and_refuses_two_way_ones() -> None:
    reg = register(
        {"code": "AT-1", "cost": "12,5"},
        {"code": "AT-2", "cost": "1500000.00"},
        {"code": "AT-3", "cost": "1,234"},
    )
    assert reg.decimal is None
    assert costs(reg) == ["12.50", "1500000.00"]
    assert [(b.code, b.reason.split(";")[0]) for b in reg.bad] == [
        ("AT-3", "cost '1,234' could mean 1234 or 1.234")
    ]


@pytest.mark.parametrize(("decimal", "cost"), [("comma", "1234.00"), ("point", None)])
def test_an_explicit_mark_needs_no_evidence(decimal: DecimalChoice, cost: str | None) -> None:
    reg = register({"cost": "1.234"}, decimal=decimal)
    assert reg.decimal == decimal
    if cost is None:
        assert reasons(reg) == [(2, "cost has more than 2 decimal places")]
    else:
        assert costs(reg) == [cost]


def test_a_comma_mark_can_be_asked_for_in_a_comma_separated_file() -> None:
    reg = register({"cost": '"1.234,5"'}, sep=",", decimal="comma")
    assert (reg.decimal, costs(reg)) == ("comma", ["1234.50"])


def test_a_refused_row_is_evidence_too_but_a_row_of_the_wrong_width_is_not() -> None:
    reg = register(
        {"code": "AT-1", "cost": "1.234", "method": "x"}, {"code": "AT-2", "cost": "5,5"}
    )
    assert reg.decimal == "comma"
    text = (
        "code;name;acquired_on;cost;method;life_months\nA;B;2024-01-01;1.234;straight_line;3;5,5\n"
    )
    assert read_register(text).decimal is None


def test_an_unknown_decimal_choice_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="decimal must be auto, point or comma"):
        read_register("code,name,acquired_on,cost,method\n", "dot")  # type: ignore[arg-type]


def test_an_annual_rate_is_read_with_the_file_mark_and_is_evidence_of_it() -> None:
    reg = read_register(
        "code;name;acquired_on;cost;method;life_months;annual_rate\n"
        "A;B;2024-01-01;1.000;declining_balance;60;0,125\n"
    )
    assert (reg.decimal, costs(reg), str(reg.rows[0].annual_rate)) == (
        "comma",
        ["1000.00"],
        "0.125000",
    )


# -- dates ------------------------------------------------------------------------


def test_a_comma_file_reads_day_first_dates() -> None:
    reg = register({"cost": "1,5", "acquired_on": "01/02/2024"})
    assert reg.rows[0].acquired_on == date(2024, 2, 1)


@pytest.mark.parametrize(("sep", "cost"), [(",", "1.5"), (";", "1500")])
def test_a_point_or_undecided_file_refuses_a_slashed_date(sep: str, cost: str) -> None:
    reg = register({"cost": cost, "acquired_on": "01/02/2024"}, sep=sep)
    assert reasons(reg) == [
        (2, "acquired_on '01/02/2024' could be 1 February or January 2; "
         "write 2024-02-01 or 2024-01-02 (YYYY-MM-DD)"),
    ]  # fmt: skip


# -- tax rules --------------------------------------------------------------------


@pytest.mark.parametrize("salvage", ["", "0", "0,00"])
def test_an_asset_in_a_tax_group_may_have_no_salvage(salvage: str) -> None:
    reg = register({"tax_group": "2", "salvage": salvage, "cost": "1.000,5"})
    assert [(str(r.salvage), r.life_months) for r in reg.rows] == [("0.00", 96)]


def test_an_asset_in_a_tax_group_with_a_salvage_is_refused() -> None:
    reg = register({"tax_group": "2", "salvage": "100"})
    assert reasons(reg) == [
        (2, "salvage must be empty or 0 for an asset in tax group '2': "
         "fiscal depreciation has no residual value"),
    ]  # fmt: skip


def test_an_asset_without_a_tax_group_keeps_its_salvage() -> None:
    assert str(register({"salvage": "100"}).rows[0].salvage) == "100.00"


# -- refused rows -----------------------------------------------------------------


def test_a_refused_row_names_its_code_and_keeps_its_values_as_read() -> None:
    reg = register({"code": " AT-9 ", "cost": "x"}, {"code": "", "name": "Desk"})
    first, second = reg.bad
    assert (first.line, first.code, first.reason) == (2, "AT-9", "cost 'x' is not a number")
    assert first.values == (" AT-9 ", "Laptop", "2024-03-15", "x", "", "36", "straight_line", "")
    assert (second.code, second.reason) == (None, "code is empty")


@pytest.mark.parametrize("code", ["A" * 65, "AT\x012"])
def test_a_value_that_cannot_be_a_code_does_not_name_the_refused_row(code: str) -> None:
    (bad,) = register({"code": code}).bad
    assert (bad.code, bad.values[0]) == (None, code)


def test_a_row_of_the_wrong_width_still_names_its_code() -> None:
    reg = read_register("code;name;acquired_on;cost;method\nAT-9;Desk\n")
    assert [(b.code, b.reason, b.values) for b in reg.bad] == [
        ("AT-9", "expected 5 fields, found 2", ("AT-9", "Desk"))
    ]


def test_an_unreadable_record_keeps_its_text() -> None:
    reg = read_register('code,name,acquired_on,cost,method\nAT-9,"Desk\n')
    assert [(b.line, b.code, b.values) for b in reg.bad] == [(2, None, ('AT-9,"Desk',))]


def test_line_and_reason_columns_are_ignored_on_import() -> None:
    text = (
        "line;reason;code;name;acquired_on;cost;method;life_months\n"
        "7;old;AT-1;L;2024-01-01;5;straight_line;3\n"
    )
    reg = read_register(text)
    assert (reg.bad, [r.code for r in reg.rows]) == ((), ["AT-1"])
    assert check_header(text)[:2] == ["line", "reason"]


def test_one_quote_before_a_formula_character_is_dropped_from_a_cell() -> None:
    reg = register({"name": "'=Laptop", "salvage": "'-5"}, {"code": "AT-2", "name": "'Desk"})
    assert reasons(reg) == [(2, "salvage must not be negative")]
    assert [r.name for r in reg.rows] == ["'Desk"]
    assert reg.bad[0].values[1] == "'=Laptop"
