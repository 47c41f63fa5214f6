"""Request input: bounded integer query parameters and JSON object bodies."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from progress_sse.errors import BadRequest, PayloadTooLarge, ValidationFailed
from progress_sse.web.api import body as body_module
from progress_sse.web.api.body import (
    MAX_JSON_DEPTH,
    json_depth,
    parse_json,
    query_int,
    read_json_object,
)


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


# -- JSON past the parser's limits: 422, never a RecursionError or ValueError (a 500) ------


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    """An object holding `depth - 1` arrays (or objects) one inside the other."""
    return b'{"a": ' + opener * (depth - 1) + b"0" + closer * (depth - 1) + b"}"


async def test_a_body_nested_thirty_thousand_deep_is_422_json_too_deep() -> None:
    with pytest.raises(ValidationFailed) as info:
        await read_json_object(post(nested(30_000)), 64 * 1024)
    assert info.value.status_code == 422 and info.value.code == "json_too_deep"
    assert f"more than {MAX_JSON_DEPTH} deep" in info.value.message


@pytest.mark.parametrize(("opener", "closer"), [(b"[", b"]"), (b'{"k": ', b"}")])
def test_nesting_up_to_the_limit_is_parsed_and_one_more_is_refused(
    opener: bytes, closer: bytes
) -> None:
    assert isinstance(parse_json(nested(MAX_JSON_DEPTH, opener, closer)), dict)
    with pytest.raises(ValidationFailed):
        parse_json(nested(MAX_JSON_DEPTH + 1, opener, closer))


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"a": "' + "[{" * 5000 + '", "b": "\\"[[[\\\\", "c": ["]]]"]}'
    assert json_depth(text) == 2
    assert parse_json(text.encode())["a"] == "[{" * 5000


def test_a_deep_body_in_utf_16_is_refused_too() -> None:
    """The scan reads the text the parser reads, not the bytes (UTF-16 is detected)."""
    with pytest.raises(ValidationFailed) as info:
        parse_json(("[" * 30_000 + "]" * 30_000).encode("utf-16"))
    assert info.value.code == "json_too_deep"


def test_the_parsers_own_recursion_limit_is_a_422_as_well(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_module, "MAX_JSON_DEPTH", 1_000_000)  # the scan lets it through
    with pytest.raises(ValidationFailed) as info:
        parse_json(nested(30_000))
    assert info.value.code == "json_too_deep"


async def test_an_integer_of_five_thousand_digits_is_422_number_too_long() -> None:
    with pytest.raises(ValidationFailed) as info:
        await read_json_object(post(b'{"a": ' + b"7" * 5000 + b"}"), 64 * 1024)
    assert info.value.status_code == 422 and info.value.code == "number_too_long"
    assert info.value.message == "Numbers in the request body must have at most 4300 digits."
    assert parse_json(b'{"a": ' + b"7" * 4300 + b"}")["a"] == int("7" * 4300)
