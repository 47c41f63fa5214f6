"""`Last-Event-ID` header or `last_event_id` query: a plain id, or ignored."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from progress_sse.web.api.stream import MAX_EVENT_ID, parse_last_event_id


def request(header: bytes | None = None, query: bytes = b"") -> Request:
    headers = [(b"last-event-id", header)] if header is not None else []
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": query}
    )


def test_no_header_and_no_query_means_no_last_id() -> None:
    assert parse_last_event_id(request()) is None


def test_header_is_read() -> None:
    assert parse_last_event_id(request(b"17")) == 17


def test_query_parameter_is_the_fallback_for_clients_without_headers() -> None:
    assert parse_last_event_id(request(query=b"last_event_id=23")) == 23


def test_header_wins_over_the_query_parameter() -> None:
    assert parse_last_event_id(request(b"17", b"last_event_id=23")) == 17


def test_surrounding_whitespace_is_ignored() -> None:
    assert parse_last_event_id(request(b" 42 ")) == 42


@pytest.mark.parametrize("raw", [b"0", b"9007199254740992"])
def test_zero_and_the_largest_safe_integer_are_accepted(raw: bytes) -> None:
    assert parse_last_event_id(request(raw)) == int(raw)
    assert MAX_EVENT_ID == 2**53


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"abc",
        b"12abc",
        b"-1",
        b"+5",
        b"1.5",
        b"1e3",
        b"0x10",
        b"9007199254740993",  # 2**53 + 1
        b"9999999999999999",
        b"12345678901234567890",  # 20 digits
    ],
)
def test_odd_header_values_are_ignored(raw: bytes) -> None:
    assert parse_last_event_id(request(raw)) is None


@pytest.mark.parametrize(
    "query", [b"last_event_id=", b"last_event_id=-3", b"last_event_id=x", b"last_event_id=1%0A2"]
)
def test_odd_query_values_are_ignored(query: bytes) -> None:
    assert parse_last_event_id(request(query=query)) is None


@pytest.mark.parametrize(("header", "query"), [(b"\xb2", b""), (None, b"last_event_id=%C2%B2")])
def test_superscript_digits_are_ignored(header: bytes | None, query: bytes) -> None:
    assert parse_last_event_id(request(header, query)) is None
