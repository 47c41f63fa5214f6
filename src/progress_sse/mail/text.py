"""Text that may enter a mail: addresses checked strictly, everything else made one line
(pure functions).

Header injection needs a line break in a header; run data (messages, params,
`created_by`) can hold anything, so it reaches a header only through
`one_line`, and a recipient only as an address `check_address` accepted. The
envelope names that one address too, whatever the headers say (`mail/smtp.py`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from progress_sse.errors import ValidationFailed

MAX_ADDRESS = 254  # RFC 5321's path limit, less the angle brackets
MAX_LOCAL = 64
# A dot-atom local part and a host name: no quotes, comments, display names, brackets,
# commas or spaces, so one string is exactly one mailbox.
_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, fields=[{"field": "address", "message": message}])


def check_address(value: Any) -> str:
    """One plain address (`name@example.com`), its domain in lower case; else 422."""
    if not isinstance(value, str) or not value:
        raise _refuse("'address' must be an email address like name@example.com.")
    if len(value) > MAX_ADDRESS:
        raise _refuse(f"An address has at most {MAX_ADDRESS} characters.")
    if not value.isascii() or any(not c.isprintable() or c.isspace() for c in value):
        raise _refuse("An address is plain ASCII without spaces or control characters.")
    local, at, domain = value.rpartition("@")
    if not at or not local or len(local) > MAX_LOCAL or not _LOCAL.fullmatch(local):
        raise _refuse("Give one address like name@example.com, without a name or brackets.")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _refuse(f"{domain!r} is not a domain name like example.com.")
    return f"{local}@{domain.lower()}"


def one_line(value: Any, limit: int = 200) -> str:
    """`value` as text on one line: control, format and separator characters become
    spaces, runs of spaces one; cut to `limit` characters with an ellipsis."""
    text = "".join(
        " " if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
        else c
        for c in str(value)
    )  # fmt: skip
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def period_of(params: dict[str, Any]) -> str | None:
    """The period a run covers, from its params: `year` and `month` ("November 2026"),
    a `year`, or a `label`; None without one. Generic on purpose: the engine knows no
    application's params, and these names mean the same in any of them."""
    year, month, label = params.get("year"), params.get("month"), params.get("label")
    if _whole(year) and isinstance(month, int) and _whole(month) and 1 <= month <= 12:
        return f"{MONTHS[month - 1]} {year}"
    if _whole(year):
        return str(year)
    if isinstance(label, str) and one_line(label):
        return one_line(label, 80)
    return None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
