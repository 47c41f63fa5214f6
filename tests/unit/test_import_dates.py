"""Reading a date cell: YYYY-MM-DD always; DD/MM/YYYY only where the decimal mark is a comma.

A file with a decimal comma follows the Indonesian convention, and Indonesian spreadsheets
write dates day first. Elsewhere (a decimal point, or a mark not decided) a slashed date could
be month first, so it is refused with both readings and the ISO form to write.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from progress_sse.accounting.asset_import.amounts import DecimalMark
from progress_sse.accounting.asset_import.dates import read_date

EVERY_MARK: tuple[DecimalMark | None, ...] = ("point", "comma", None)


@pytest.mark.parametrize("mark", EVERY_MARK)
def test_an_iso_date_reads_under_every_mark(mark: DecimalMark | None) -> None:
    assert read_date("2024-02-29", mark) == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15/03/2024", date(2024, 3, 15)),
        ("01/02/2024", date(2024, 2, 1)),
        ("1/2/2024", date(2024, 2, 1)),
        ("31/12/2024", date(2024, 12, 31)),
    ],
)
def test_a_comma_file_reads_slashed_dates_day_first(text: str, expected: date) -> None:
    assert read_date(text, "comma") == expected


@pytest.mark.parametrize(
    ("text", "mark", "reason"),
    [
        ("01/02/2024", "point", "'01/02/2024' could be 1 February or January 2; "
         "write 2024-02-01 or 2024-01-02 (YYYY-MM-DD)"),
        ("12/11/2024", None, "'12/11/2024' could be 12 November or December 11; "
         "write 2024-11-12 or 2024-12-11 (YYYY-MM-DD)"),
        ("15/03/2024", "point", "'15/03/2024' is not a date (YYYY-MM-DD); write 2024-03-15"),
        ("03/15/2024", None, "'03/15/2024' is not a date (YYYY-MM-DD); write 2024-03-15"),
        ("05/05/2024", None, "'05/05/2024' is not a date (YYYY-MM-DD); write 2024-05-05"),
        ("31/31/2024", "point", "'31/31/2024' is not a date (YYYY-MM-DD)"),
        ("31/02/2024", "comma", "'31/02/2024' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        ("03/15/2024", "comma", "'03/15/2024' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        ("2024-02-30", "comma", "'2024-02-30' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        ("2024-02-30", "point", "'2024-02-30' is not a date (YYYY-MM-DD)"),
        ("01/02/24", "comma", "'01/02/24' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        ("15.03.2024", "comma", "'15.03.2024' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        ("2024/03/15", "comma", "'2024/03/15' is not a date (YYYY-MM-DD or DD/MM/YYYY)"),
        ("\uff12024-01-01", "point", "'\uff12024-01-01' is not a date (YYYY-MM-DD)"),
        ("", None, "'' is not a date (YYYY-MM-DD)"),
    ],
)  # fmt: skip
def test_a_date_that_cannot_be_read_says_why(
    text: str, mark: DecimalMark | None, reason: str
) -> None:
    with pytest.raises(ValueError) as caught:
        read_date(text, mark)
    assert str(caught.value) == reason


days = st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31))


@settings(max_examples=300, deadline=None)
@given(days)
def test_any_date_written_day_first_reads_back_in_a_comma_file(day: date) -> None:
    assert read_date(day.strftime("%d/%m/%Y"), "comma") == day
    assert read_date(f"{day.day}/{day.month}/{day.year}", "comma") == day


@settings(max_examples=300, deadline=None)
@given(days, st.sampled_from([None, "point"]))
def test_a_slashed_date_is_never_read_outside_a_comma_file(
    day: date, mark: DecimalMark | None
) -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        read_date(day.strftime("%d/%m/%Y"), mark)
