"""The rejected rows of an import as a CSV to fix and upload again (pure).

The file has the uploaded file's separator, the columns `line` and `reason`
first, then the uploaded header's columns (as written), and each rejected
row's values as read. The importer ignores `line` and `reason`, so the file
can be uploaded again as it is once the rows are fixed.

A cell that a spreadsheet would run as a formula gets a leading quote (OWASP
CSV injection, https://owasp.org/www-community/attacks/CSV_Injection), as the
depreciation journal's CSV does; the importer drops one quote before such a
character (`unescape_cell`), so the file reads back as it was written. That
includes a tab or CR after the quote, not only = + - @: otherwise a cell like
"\\tLaptop" would come back as "'\\tLaptop" and be refused for another reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from progress_sse.accounting.asset_import.header import COLUMNS, EXTRA, CsvError, read_header
from progress_sse.web.csvout import FORMULA_START, csv_text

if TYPE_CHECKING:  # parse imports this module
    from progress_sse.accounting.asset_import.parse import BadRow


class Layout(Protocol):
    """How the upload was written; a `Register` is one, or rebuild it from stored values."""

    @property
    def delimiter(self) -> str: ...

    @property
    def header(self) -> Sequence[str]: ...


def unescape_cell(value: str) -> str:
    """Undo `csvout.safe_cell`: one quote before a formula character goes."""
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_START else value


def rejected_csv(register: Layout, rejected: Sequence[BadRow]) -> str:
    """`rejected` as a CSV in the register's separator: line, reason, then the file's columns.

    The uploaded file's own `line` and `reason` columns (a re-uploaded rejected
    file) are left out, so they are never repeated.
    """
    dropped = {i for i, name in enumerate(register.header) if name.strip().lower() in EXTRA}
    names = [name for i, name in enumerate(register.header) if i not in dropped]
    rows = (
        [str(bad.line), bad.reason, *(v for i, v in enumerate(bad.values) if i not in dropped)]
        for bad in rejected
    )
    return csv_text([*EXTRA, *names], rows, delimiter=register.delimiter)


@dataclass(frozen=True, slots=True)
class FileLayout:
    delimiter: str
    header: tuple[str, ...]


def layout_of(text: str | None) -> FileLayout:
    """The stored upload's separator and header; the documented columns when it is gone."""
    if text is not None:
        try:
            found = read_header(text)
        except CsvError:
            pass
        else:
            return FileLayout(found.delimiter, found.names)
    return FileLayout(",", COLUMNS)
