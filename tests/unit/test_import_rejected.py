"""The rejected rows as a CSV to fix and upload again.

Same separator as the upload; `line` and `reason` first, then the upload's columns as written;
each row's values as read. A cell a spreadsheet would run as a formula gets a leading quote,
which the importer drops again, so the file read back as it is refuses the same rows for the
same reasons, with the same codes (re-uploaded with the decimal mark the first upload used).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from progress_sse.accounting.asset_import.parse import (
    BadRow,
    DecimalChoice,
    Register,
    read_register,
    rejected_csv,
)
from progress_sse.accounting.asset_import.rejected import unescape_cell
from progress_sse.web.csvout import FORMULA_START
from progress_sse.web.csvout import safe_cell as escape_cell


def rejected_again(first: Register) -> Register:
    """The rejected-rows CSV of `first`, uploaded again unchanged, with `first`'s mark."""
    decimal: DecimalChoice = first.decimal or "auto"
    return read_register(rejected_csv(first, first.bad), decimal)


def code_and_reason(bad: tuple[BadRow, ...]) -> list[tuple[str | None, str]]:
    return [(b.code, b.reason) for b in bad]


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tLaptop", "'\tLaptop"),
        ("\rLaptop", "'\rLaptop"),
        ("Laptop", "Laptop"),
        ("'quoted", "'quoted"),
        ("", ""),
    ],
)
def test_a_formula_cell_gets_one_leading_quote_that_the_importer_drops(
    value: str, escaped: str
) -> None:
    assert escape_cell(value) == escaped
    assert unescape_cell(escaped) == value


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=8))
def test_escaping_then_unescaping_gives_back_any_cell_not_already_quoted_like_a_formula(
    value: str,
) -> None:
    if value[:1] == "'" and value[1:2] in FORMULA_START:
        assert unescape_cell(escape_cell(value)) == value[1:]  # read as the formula it hides
    else:
        assert unescape_cell(escape_cell(value)) == value


def test_the_rejected_csv_has_line_and_reason_first_then_the_upload_as_written() -> None:
    first = read_register(
        "Code;Name;Acquired_On;Cost;Method;Life_Months\r\n"
        "AT-1;=cmd();2024-01-01;x;straight_line;3\r\n"
        "AT-2;Desk;2024-01-01;5;straight_line;3\r\n"
        "AT-3;Chair;2024-01-01;-5;straight_line;3\r\n"
    )
    assert rejected_csv(first, first.bad) == (
        "line;reason;Code;Name;Acquired_On;Cost;Method;Life_Months\r\n"
        "2;cost 'x' is not a number;AT-1;'=cmd();2024-01-01;x;straight_line;3\r\n"
        "4;cost must be more than 0;AT-3;Chair;2024-01-01;'-5;straight_line;3\r\n"
    )


def test_a_rejected_csv_uploaded_again_does_not_repeat_line_and_reason() -> None:
    first = read_register(
        "code,name,acquired_on,cost,method,life_months\nA,B,2024-01-01,x,straight_line,3\n"
    )
    again = rejected_again(first)
    assert again.header == (
        "line",
        "reason",
        "code",
        "name",
        "acquired_on",
        "cost",
        "method",
        "life_months",
    )
    assert rejected_csv(again, again.bad) == rejected_csv(first, first.bad)


COMMA_FILE = "\n".join([
    "code,name,category,acquired_on,cost,salvage,life_months,method,tax_group",
    "AT-1,Laptop,IT,2024-01-01,1000,,36,straight_line,",
    "AT-2,=HYPERLINK(1),IT,2024-01-01,x,,36,straight_line,",
    "AT-3,Desk,+cmd,2024-01-01,1000,-5,36,straight_line,",
    "AT-4,Chair,@x,01/02/2024,1000,,36,straight_line,",
    'AT-5,"Shelf, tall",IT,2024-01-01,"1,5",,36,straight_line,',
    "AT-6,Van,Car,2024-01-01,1000,100,,straight_line,2",
    "AT-7,Too,many,2024-01-01,1000,,36,straight_line,,extra",
    "AT-8,Too few",
    ",No code,IT,2024-01-01,1000,,36,straight_line,",
    "AT-9,Lamp,IT,2024-01-01,0,,36,sideways,",
    'AT-10,"\tTabbed",IT,2024-01-01,1e3,,36,straight_line,',
    "AT-11,Good,IT,2024-01-01,5,,36,straight_line,",
]) + "\n"  # fmt: skip

SEMICOLON_FILE = "\n".join([
    "code;name;acquired_on;cost;salvage;life_months;method;tax_group",
    "AT-1;Laptop;15/03/2024;1.234.567,89;;36;straight_line;",
    "AT-2;Desk;31/02/2024;1.234;;36;straight_line;",
    "AT-3;Van;01/02/2024;1.000;5,5;;straight_line;2",
    "AT-4;Chair;2024-01-01;1.50.000;;36;straight_line;",
    "AT-5;Lamp;2024-01-01;Rp 1.000;;36;straight_line;",
]) + "\n"  # fmt: skip

UNDECIDED_FILE = "\n".join([
    "code\tname\tacquired_on\tcost\tlife_months\tmethod",
    "AT-1\tLaptop\t2024-01-01\t1500\t36\tstraight_line",
    "AT-2\tDesk\t2024-01-01\t1.234\t36\tstraight_line",
    "AT-3\tChair\t01/02/2024\t1500\t36\tstraight_line",
    "AT-4\tLamp\t2024-01-01\t2,500\t36\tstraight_line",
]) + "\n"  # fmt: skip


@pytest.mark.parametrize(
    ("text", "good"),
    [(COMMA_FILE, ["AT-1", "AT-11"]), (SEMICOLON_FILE, ["AT-1"]), (UNDECIDED_FILE, ["AT-1"])],
    ids=["comma-separated", "semicolon-decimal-comma", "tab-undecided"],
)
def test_rejected_rows_uploaded_again_unfixed_are_rejected_again_for_the_same_reasons(
    text: str, good: list[str]
) -> None:
    first = read_register(text)
    assert [r.code for r in first.rows] == good
    assert len(first.bad) == text.count("\n") - 1 - len(good)
    again = rejected_again(first)
    assert again.delimiter == first.delimiter
    assert again.rows == ()
    assert code_and_reason(again.bad) == code_and_reason(first.bad)
    assert [b.line for b in again.bad] == list(range(2, len(first.bad) + 2))


def test_the_rejected_csv_does_not_carry_the_mark_so_upload_it_again_with_the_first_one() -> None:
    first = read_register(
        "code;name;acquired_on;cost;method;life_months\n"
        "AT-1;Laptop;2024-01-01;1.234.567,89;straight_line;36\n"
        "AT-2;Desk;2024-13-01;1.234;straight_line;36\n"
    )
    assert first.decimal == "comma"
    text = rejected_csv(first, first.bad)
    assert read_register(text).decimal is None  # "1.234" alone proves nothing
    assert code_and_reason(read_register(text, "comma").bad) == code_and_reason(first.bad)
