"""The outcome mail: plain text with an HTML alternative (pure functions).

Built once, when the outcome is queued, and stored whole in the outbox row, so
every attempt sends the same bytes with the same `Message-ID` (receivers may
de-duplicate on it, as webhook receivers do on the delivery id). Run data only
reaches a header through `text.one_line`, and only reaches HTML escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from progress_sse.mail.text import one_line

OUTCOME_WORDS = {"complete": "completed", "error": "failed", "stale": "stale",
                 "cancelled": "cancelled"}  # fmt: skip
EVENT_HEADER = "X-Progress-SSE-Event"
RUN_HEADER = "X-Progress-SSE-Run"
LINKS = ("Report", "Run", "Batch")  # the labels whose value is a URL


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """How one child of a batch ended."""

    name: str
    kind: str
    status: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one outcome mail tells, as the run store has it (raw: `compose` cleans it)."""

    run_id: str
    tenant_id: str
    event: str  # complete | error | stale | cancelled
    title: str  # the kind's title, or for a batch its name
    kind: str
    period: str | None
    created_by: str | None
    message: str
    summary: str | None
    error: str | None
    error_code: str | None
    finished_at: datetime
    link: str  # absolute URL of the run (or the batch), as JSON
    report: str | None = None  # absolute URL of the run's printable report
    batch: bool = False
    children: tuple[ChildOutcome, ...] = ()


def subject(outcome: Outcome) -> str:
    """ "Depreciation · November 2026: completed", "Batch close 2026-11: failed"."""
    what = one_line(f"Batch {outcome.title}" if outcome.batch else outcome.title, 120)
    if outcome.period:
        what += f" · {one_line(outcome.period, 60)}"
    return one_line(f"{what}: {OUTCOME_WORDS.get(outcome.event, outcome.event)}", 200)


def facts(outcome: Outcome) -> list[tuple[str, str]]:
    """The lines of the mail, label and value, each one line of plain text."""
    word = OUTCOME_WORDS.get(outcome.event, outcome.event)
    what = "batch" if outcome.batch else f"{outcome.kind}"
    ran = f"{outcome.title} ({what})" + (f", {outcome.period}" if outcome.period else "")
    rows = [
        ("What ran", ran),
        ("Started by", outcome.created_by or "unknown"),
        ("Outcome", word + (" (its worker stopped)" if outcome.event == "stale" else "")),
    ]
    if outcome.summary:
        rows.append(("Summary", outcome.summary))
    if outcome.error:
        code = f" ({outcome.error_code})" if outcome.error_code else ""
        rows.append(("Error", outcome.error + code))
    elif outcome.message and not outcome.summary:
        rows.append(("Message", outcome.message))
    rows.append(("Finished", outcome.finished_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    if outcome.report:
        rows.append(("Report", outcome.report))
    rows.append(("Batch" if outcome.batch else "Run", outcome.link))
    return [(label, one_line(value, 2000)) for label, value in rows]


def child_lines(outcome: Outcome) -> list[str]:
    """A batch's children, one line each: "1. import (asset_import): failed: no file"."""
    return [
        one_line(
            f"{i}. {c.name} ({c.kind}): {c.status}" + (f": {c.reason}" if c.reason else ""), 500
        )
        for i, c in enumerate(outcome.children, 1)
    ]


def plain_text(outcome: Outcome) -> str:
    lines = [subject(outcome), ""]
    lines += [f"{label + ':':<12} {value}" for label, value in facts(outcome)]
    if outcome.children:
        lines += ["", "Parts:", *(f"  {line}" for line in child_lines(outcome))]
    lines += ["", "--", footer(outcome)]
    return "\n".join(lines) + "\n"


def html_text(outcome: Outcome) -> str:
    esc = html.escape
    rows = []
    for label, value in facts(outcome):
        link = label in LINKS
        shown = f'<a href="{esc(value)}">{esc(value)}</a>' if link else esc(value)
        rows.append(f'<tr><th align="left">{esc(label)}</th><td>{shown}</td></tr>')
    parts = "".join(f"<li>{esc(line.partition('. ')[2])}</li>" for line in child_lines(outcome))
    return (
        "<!DOCTYPE html><html><body>"
        f"<p><strong>{esc(subject(outcome))}</strong></p>"
        f"<table>{''.join(rows)}</table>"
        + (f"<p>Parts:</p><ol>{parts}</ol>" if parts else "")
        + f"<p><small>{esc(footer(outcome))}</small></p></body></html>\n"
    )


def footer(outcome: Outcome) -> str:
    return one_line(
        f"Sent by progress-sse: this address gets the {outcome.event!r} outcomes of tenant "
        f"{outcome.tenant_id}'s runs. An admin changes that with /api/mail/recipients.",
        500,
    )


def compose(outcome: Outcome, *, sender: str, recipient: str, delivery_id: str) -> str:
    """The whole message, as sent: CRLF lines, 7-bit (quoted-printable bodies, encoded
    headers), so any SMTP server takes it as is. `recipient` is a checked address."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject(outcome)
    msg["Date"] = format_datetime(outcome.finished_at.astimezone(UTC))
    msg["Message-ID"] = f"<{delivery_id}@{sender.rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    msg[EVENT_HEADER] = one_line(outcome.event, 16)
    msg[RUN_HEADER] = one_line(outcome.run_id, 32)
    msg.set_content(plain_text(outcome), cte="quoted-printable")
    msg.add_alternative(html_text(outcome), subtype="html", cte="quoted-printable")
    return msg.as_bytes().decode("ascii")
