"""Reading amounts with a decimal point or a decimal comma, and what a cell proves about the mark.

Under a mark the other character separates thousands, in strict groups of three; so does a
space or a no-break space. A file whose mark is undecided (None) reads each cell on its own
and refuses one that could be two amounts. The text is never guessed at.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from progress_sse.accounting.asset_import.amounts import (
    CHAR,
    MARKS,
    DecimalMark,
    file_mark,
    other,
    proven_mark,
    read_decimal,
)

# -- reading under a mark ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mark", "expected"),
    [
        ("1500000.00", "point", "1500000.00"),
        ("1,234,567.89", "point", "1234567.89"),
        ("1 234 567.89", "point", "1234567.89"),
        ("1\u00a0234.5", "point", "1234.5"),
        ("0.125", "point", "0.125"),
        ("-5", "point", "-5"),
        ("007", "point", "7"),
        ("1.234.567,89", "comma", "1234567.89"),
        ("1.234.567", "comma", "1234567"),
        ("12,5", "comma", "12.5"),
        ("0,125", "comma", "0.125"),
        ("1.234", "comma", "1234"),
        ("1\u202f234,50", "comma", "1234.50"),
        ("999.999.999.999.999,99", "comma", "999999999999999.99"),
    ],
)
def test_an_amount_reads_under_its_mark_keeping_the_places_written(
    text: str, mark: DecimalMark, expected: str
) -> None:
    assert str(read_decimal(text, mark)) == expected


@pytest.mark.parametrize(
    ("text", "mark", "reason"),
    [
        ("1.5", "comma", "'1.5' has a '.' that is not a thousands separator "
         "(digits in groups of three); this file uses ',' as its decimal mark"),
        ("1,5", "point", "'1,5' has a ',' that is not a thousands separator "
         "(digits in groups of three); this file uses '.' as its decimal mark"),
        ("1500000.00", "comma", "'1500000.00' has a '.' that is not a thousands separator "
         "(digits in groups of three); this file uses ',' as its decimal mark"),
        ("0.125", "comma", "'0.125' has a '.' that is not a thousands separator "
         "(digits in groups of three); this file uses ',' as its decimal mark"),
        ("1,234,567", "comma", "'1,234,567' has more than one ','; "
         "this file uses ',' as its decimal mark"),
        ("1.234.567", "point", "'1.234.567' has more than one '.'; "
         "this file uses '.' as its decimal mark"),
        ("12 34", "point", "'12 34' has a space that is not a thousands separator "
         "(digits in groups of three)"),
        ("1 234.567,5", "comma", "'1 234.567,5' has a '.' that is not a thousands separator "
         "(digits in groups of three); this file uses ',' as its decimal mark"),
        ("Rp 1.000", "comma", "'Rp 1.000' has a currency sign; write the number only"),
        ("IDR 5", "point", "'IDR 5' has a currency sign; write the number only"),
        ("$5", "point", "'$5' has a currency sign; write the number only"),
        ("1.23457E+11", "point", "'1.23457E+11' is in scientific notation, which spreadsheets "
         "round; format the column as a number and export the file again"),
        ("", "point", "'' is not a number"),
        ("abc", "comma", "'abc' is not a number"),
        ("NaN", "point", "'NaN' is not a number"),
        ("1_000", "point", "'1_000' is not a number"),
        ("+5", "point", "'+5' is not a number"),
        ("(5)", "point", "'(5)' is not a number"),
        (".5", "point", "'.5' is not a number"),
        ("5.", "point", "'5.' is not a number"),
        ("\u0661\u0662", "point", "'\u0661\u0662' is not a number"),
    ],
)  # fmt: skip
def test_text_that_is_not_an_amount_under_the_mark_says_why(
    text: str, mark: DecimalMark, reason: str
) -> None:
    with pytest.raises(ValueError) as caught:
        read_decimal(text, mark)
    assert str(caught.value) == reason


# -- an undecided mark ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1500", "1500"),
        ("1 500", "1500"),
        ("12,5", "12.5"),
        ("1500000.00", "1500000.00"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567.89", "1234567.89"),
        ("0,125", "0.125"),
    ],
)
def test_undecided_mark_reads_a_cell_with_only_one_meaning(text: str, expected: str) -> None:
    assert str(read_decimal(text, None)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.234", "'1.234' could mean 1234 or 1.234; write 1234 or 1.234,00 if you mean 1234, "
         "or upload with decimal=comma or decimal=point"),
        ("1,234", "'1,234' could mean 1234 or 1.234; write 1234 or 1,234.00 if you mean 1234, "
         "or upload with decimal=comma or decimal=point"),
        ("-1.000", "'-1.000' could mean -1000 or -1.000; write -1000 or -1.000,00 if you mean "
         "-1000, or upload with decimal=comma or decimal=point"),
        ("1.2.3", "'1.2.3' is not a number"),
        ("Rp 1.000", "'Rp 1.000' has a currency sign; write the number only"),
    ],
)  # fmt: skip
def test_undecided_mark_refuses_a_cell_that_could_be_two_amounts(text: str, reason: str) -> None:
    with pytest.raises(ValueError) as caught:
        read_decimal(text, None)
    assert str(caught.value) == reason


# -- evidence ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "proves"),
    [
        ("1.234.567,89", "comma"),
        ("12,5", "comma"),
        ("0,125", "comma"),
        ("1.234.567", "comma"),
        ("1500000.00", "point"),
        ("0.125", "point"),
        ("1,234,567.89", "point"),
        ("1.234", None),  # 1234 or 1.234
        ("1,234", None),
        ("1500", None),  # the same under both
        ("1 500", None),
        ("", None),
        ("abc", None),
        ("1.2.3,4,5", None),  # under neither
    ],
)
def test_a_cell_proves_the_mark_under_which_alone_it_reads(
    text: str, proves: DecimalMark | None
) -> None:
    assert proven_mark(text) == proves


@pytest.mark.parametrize(
    ("cells", "mark"),
    [
        ([], None),
        (["1500", "1.234", "", "x"], None),
        (["1500", "1.234", "12,5"], "comma"),
        (["0.125", "1.234", "1500000.00"], "point"),
        (["12,5", "0.125"], None),  # proves both: undecided
    ],
)
def test_a_file_has_the_mark_its_cells_prove_and_no_other(
    cells: list[str], mark: DecimalMark | None
) -> None:
    assert file_mark(cells) == mark


# -- properties -------------------------------------------------------------------

GROUPS: dict[DecimalMark, tuple[str | None, ...]] = {
    "point": (None, ",", " ", "\u00a0", "\u202f"),
    "comma": (None, ".", " ", "\u00a0", "\u202f"),
}


def write(value: Decimal, mark: DecimalMark, group: str | None) -> str:
    """`value` as a spreadsheet writes it under `mark`, thousands grouped by `group`."""
    whole, _, fraction = f"{abs(value):f}".partition(".")
    if group is not None:
        whole = f"{int(whole):,}".replace(",", group)
    sign = "-" if value.is_signed() else ""
    return sign + whole + (CHAR[mark] + fraction if fraction else "")


amounts = st.integers(0, 6).flatmap(
    lambda places: st.decimals(
        min_value=-(10**15) + 1, max_value=10**15 - 1, places=places, allow_nan=False
    )
)


@st.composite
def written(draw: st.DrawFn) -> tuple[Decimal, DecimalMark, str]:
    value, mark = draw(amounts), draw(st.sampled_from(MARKS))
    return value, mark, write(value, mark, draw(st.sampled_from(GROUPS[mark])))


@settings(max_examples=500, deadline=None)
@given(written())
def test_any_amount_written_under_a_mark_reads_back_exactly(
    case: tuple[Decimal, DecimalMark, str],
) -> None:
    value, mark, text = case
    assert str(read_decimal(text, mark)) == str(value)


@settings(max_examples=500, deadline=None)
@given(written())
def test_an_amount_written_under_a_mark_never_proves_the_other(
    case: tuple[Decimal, DecimalMark, str],
) -> None:
    value, mark, text = case
    assert proven_mark(text) in (mark, None)
    if proven_mark(text) == mark:
        assert str(read_decimal(text, None)) == str(value)


digits = st.text(alphabet="0123456789", min_size=1, max_size=4)
# Runs of digits with '.', ',' or spaces between them: the texts that are or nearly are amounts.
cells = st.builds(
    lambda sign, first, rest: sign + first + "".join(sep + run for sep, run in rest),
    st.sampled_from(["", "-"]),
    digits,
    st.lists(st.tuples(st.sampled_from([".", ",", " ", "\u00a0"]), digits), max_size=4),
) | st.text(alphabet="0123456789.,- \u00a0", max_size=12)


@settings(max_examples=2000, deadline=None)
@given(cells)
def test_a_text_proven_to_mean_one_amount_never_reads_as_another(text: str) -> None:
    mark = proven_mark(text)
    if mark is None:
        return
    with pytest.raises(ValueError):
        read_decimal(text, other(mark))
    assert read_decimal(text, None).as_tuple() == read_decimal(text, mark).as_tuple()


def _reading(text: str, mark: DecimalMark | None) -> Decimal | None:
    try:
        return read_decimal(text, mark)
    except ValueError:
        return None


@settings(max_examples=2000, deadline=None)
@given(cells)
def test_an_undecided_mark_reads_a_text_only_when_every_reading_agrees(text: str) -> None:
    readings = [r for r in (_reading(text, m) for m in MARKS) if r is not None]
    undecided = _reading(text, None)
    if undecided is None:
        assert len(readings) == 0 or readings[0].as_tuple() != readings[-1].as_tuple()
    else:
        assert readings and all(r.as_tuple() == undecided.as_tuple() for r in readings)
