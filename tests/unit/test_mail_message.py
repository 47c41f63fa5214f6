"""The outcome mail, pure: strict addresses, one-line text, headers run data cannot add to,
HTML that shows run data as text, and the period read from params."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from progress_sse.errors import ValidationFailed
from progress_sse.mail.message import ChildOutcome, Outcome, compose, subject
from progress_sse.mail.text import check_address, one_line, period_of

HOSTILE = "x\r\nBcc: evil@example.com"
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
           "X-Progress-SSE-Event", "X-Progress-SSE-Run", "MIME-Version",
           "Content-Type"]  # fmt: skip


def outcome(**changes: Any) -> Outcome:
    base: dict[str, Any] = {
        "run_id": "crc15n2rcbkv7pfpvq8khz5kzm", "tenant_id": "acme", "event": "complete",
        "title": "Depreciation", "kind": "asset_depreciation", "period": "November 2026",
        "created_by": "pss_Sb2KWy", "message": "Completed.",
        "summary": "Posted 1,424 entries (DEP/2026/11/0001).", "error": None,
        "error_code": None, "finished_at": datetime(2026, 11, 30, 16, 48, 19, tzinfo=UTC),
        "link": "https://progress.example.com/api/runs/crc15n2rcbkv7pfpvq8khz5kzm",
    }  # fmt: skip
    return Outcome(**{**base, **changes})


def parsed(raw: str) -> EmailMessage:
    message = message_from_bytes(raw.encode("ascii"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


@pytest.mark.parametrize(
    "address", ["alice@example.com", "a.b+tag@mail.example.co.uk", "x_y-z@EXAMPLE.com"]
)
def test_plain_addresses_are_taken_with_the_domain_in_lower_case(address: str) -> None:
    local, _, domain = address.rpartition("@")
    assert check_address(address) == f"{local}@{domain.lower()}"


@pytest.mark.parametrize(
    "address",
    [
        "", "alice", "alice@", "@example.com", "alice@localhost", "alice@example..com",
        "Alice <alice@example.com>", "<alice@example.com>", '"alice"@example.com',
        "alice@example.com, bob@example.com", "alice@example.com\r\nBcc: evil@example.com",
        "alice@example.com\n", "alice @example.com", "alice@exa mple.com", "a..b@example.com",
        ".a@example.com", "alice@-example.com", "alice(c)@example.com", "ålice@example.com",
        "alice@example.com\x00", "a" * 65 + "@example.com", "a@" + "b" * 250 + ".com",
        None, 42, ["alice@example.com"], {"address": "alice@example.com"},
    ],
)  # fmt: skip
def test_anything_but_one_plain_address_is_refused_naming_the_field(address: Any) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_address(address)
    assert refused.value.extra["fields"][0]["field"] == "address"


def test_one_line_turns_every_break_and_control_character_into_one_space() -> None:
    hostile = "a\r\nb\nc\rd\te\x00f\x1bg\u2028h\u2029i\u0085j\u200bk"
    assert one_line(hostile) == "a b c d e f g h i j k"
    assert one_line("  many    spaces  ") == "many spaces"
    assert one_line("x" * 300, 10) == "x" * 9 + "…"


def test_the_period_comes_from_generic_params_only() -> None:
    assert period_of({"year": 2026, "month": 11}) == "November 2026"
    assert period_of({"year": 2026}) == "2026"
    assert period_of({"label": "Q4\r\nBcc: x"}) == "Q4 Bcc: x"
    assert period_of({"year": "2026", "month": 11}) is None
    assert period_of({"year": 2026, "month": 13}) == "2026"
    assert period_of({"year": True, "month": 1}) is None
    assert period_of({"items": 3}) is None


def test_the_message_says_what_ran_who_started_it_the_outcome_and_where_to_look() -> None:
    raw = compose(outcome(), sender="progress@example.com", recipient="alice@example.com",
                  delivery_id="crc15n6ty19z0680yk66a28dbx")  # fmt: skip
    message = parsed(raw)
    text, html = parts(message)
    assert raw.isascii() and "\r\n" in raw
    assert message["Subject"] == "Depreciation · November 2026: completed"
    assert message["From"] == "progress@example.com" and message["To"] == "alice@example.com"
    assert message["Message-ID"] == "<crc15n6ty19z0680yk66a28dbx@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    for fact in ("Depreciation (asset_depreciation), November 2026", "Started by:  pss_Sb2KWy",
                 "Outcome:     completed", "Posted 1,424 entries", "2026-11-30 16:48:19 UTC",
                 "https://progress.example.com/api/runs/crc15n2rcbkv7pfpvq8khz5kzm"):  # fmt: skip
        assert fact in text and fact.split("  ")[-1].strip() in html, fact
    assert '<a href="https://progress.example.com/api/runs/crc15n2rcbkv7pfpvq8khz5kzm">' in html


def test_hostile_run_data_adds_no_header_and_no_markup() -> None:
    hostile = outcome(
        event="error", title=HOSTILE, period=HOSTILE, created_by=HOSTILE, summary=None,
        error="<script>alert(1)</script>\r\nBcc: evil@example.com", error_code="x\nCc: y",
    )  # fmt: skip
    raw = compose(hostile, sender="p@example.com", recipient="alice@example.com", delivery_id="d1")
    message = parsed(raw)
    text, html = parts(message)
    assert list(message.keys()) == HEADERS
    assert message.get_all("To") == ["alice@example.com"]
    assert message["Subject"] == "x Bcc: evil@example.com · x Bcc: evil@example.com: failed"
    assert "Started by:  x Bcc: evil@example.com" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_batch_mail_names_the_batch_and_every_child_s_outcome() -> None:
    batch = outcome(
        event="error", title="close 2026-11", kind="batch", period=None, summary=None,
        error="1 of 2 parts failed.", error_code="child_failed", batch=True,
        link="https://progress.example.com/api/batches/b1",
        children=(ChildOutcome("import", "asset_import", "succeeded", None),
                  ChildOutcome("post", "asset_depreciation", "failed", "<b>no</b>")),
    )  # fmt: skip
    text, html = parts(parsed(compose(batch, sender="p@example.com", recipient="a@example.com",
                                      delivery_id="d2")))  # fmt: skip
    assert subject(batch) == "Batch close 2026-11: failed"
    assert "1. import (asset_import): succeeded" in text
    assert "2. post (asset_depreciation): failed: <b>no</b>" in text
    assert "<li>post (asset_depreciation): failed: &lt;b&gt;no&lt;/b&gt;</li>" in html
    assert "Batch:       https://progress.example.com/api/batches/b1" in text
