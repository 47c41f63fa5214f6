"""Request input: bounded integer query parameters and JSON object bodies."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from progress_sse.api.body import query_int, read_json_object
from progress_sse.errors import BadRequest, PayloadTooLarge, ValidationFailed


def get(query: bytes) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": query}
    )


def post(body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    chunks = [body[i : i + 4] for i in range(0, len(body), 4)] or [b""]

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers or []}
    return Request(scope, receive)


# -- query_int ------------------------------------------------------------------


@pytest.mark.parametrize("query", [b"", b"limit=", b"other=5"])
def test_missing_or_empty_parameter_gives_the_default(query: bytes) -> None:
    assert query_int(get(query), "limit", 50, 1, 200) == 50


@pytest.mark.parametrize(
    ("query", "expected"), [(b"limit=1", 1), (b"limit=7", 7), (b"limit=200", 200)]
)
def test_values_within_the_inclusive_bounds_are_returned(query: bytes, expected: int) -> None:
    assert query_int(get(query), "limit", 50, 1, 200) == expected


@pytest.mark.parametrize(
    "raw", [b"0", b"201", b"-1", b"abc", b"1.5", b"+3", b"%2010", b"99999999999999999999"]
)
def test_values_outside_the_bounds_or_not_whole_numbers_are_422(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as info:
        query_int(get(b"limit=" + raw), "limit", 50, 1, 200)
    assert info.value.status_code == 422
    assert info.value.extra["fields"] == [{"field": "limit", "message": "must be 1-200"}]
    assert "'limit'" in info.value.message


def test_superscript_digits_are_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        query_int(get(b"limit=%C2%B2"), "limit", 50, 1, 200)


# -- read_json_object -------------------------------------------------------------


async def test_a_json_object_body_is_returned() -> None:
    assert await read_json_object(post(b'{"kind": "demo", "params": {}}'), 1024) == {
        "kind": "demo",
        "params": {},
    }


@pytest.mark.parametrize("body", [b"", b"   ", b"[1, 2]", b'"text"', b"{nope", b"\xff\xfe"])
async def test_bodies_that_are_not_a_json_object_are_400(body: bytes) -> None:
    with pytest.raises(BadRequest) as info:
        await read_json_object(post(body), 1024)
    assert info.value.code == "invalid_json"


async def test_a_body_longer_than_the_limit_is_413_even_without_content_length() -> None:
    with pytest.raises(PayloadTooLarge):
        await read_json_object(post(b'{"a": "' + b"x" * 64 + b'"}'), 32)


async def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    with pytest.raises(PayloadTooLarge):
        await read_json_object(post(b"{}", [(b"content-length", b"4096")]), 1024)


async def test_a_content_length_that_is_not_a_number_is_400() -> None:
    with pytest.raises(BadRequest) as info:
        await read_json_object(post(b"{}", [(b"content-length", b"12x")]), 1024)
    assert info.value.code == "bad_request"


async def test_a_content_length_of_superscript_digits_is_400() -> None:
    with pytest.raises(BadRequest):
        await read_json_object(post(b"{}", [(b"content-length", b"\xb2")]), 1024)
