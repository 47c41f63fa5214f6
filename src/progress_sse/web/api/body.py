"""Reading request input safely: size limits before parsing, clear errors after."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from itertools import accumulate
from typing import Any

from starlette.requests import Request

from progress_sse.errors import BadRequest, PayloadTooLarge, RequestTimeout, ValidationFailed
from progress_sse.storage.text import scrub

# Nesting past this is refused before parsing: the parser, `scrub` and the JSON columns all
# recurse, so a body nested thousands deep (64 KiB of `[`) would otherwise end in a
# RecursionError. No request of this API nests anywhere near it.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def is_ascii_number(text: str) -> bool:
    """Digits 0-9 only: `str.isdigit` also accepts '²' and other scripts' digits."""
    return text.isascii() and text.isdigit()


async def read_body(request: Request, max_bytes: int, timeout_s: float | None = None) -> bytes:
    """The raw body, refused with 413 as soon as it passes `max_bytes` (never buffered past
    it), and with 408 if it has not arrived in full within `timeout_s`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not is_ascii_number(declared):
            raise BadRequest("Content-Length must be a number.")
        if int(declared) > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):  # a body that never comes must not hold on
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
    except TimeoutError:
        raise RequestTimeout(
            f"The request body did not arrive in full within {timeout_s:g} s."
        ) from None
    return bytes(body)


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON `text` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(1 if b in "[{" else -1 for b in brackets), default=0)


def parse_json(body: bytes) -> Any:
    """`body` parsed; 400 when it is not JSON, 422 when it passes the parser's limits."""
    try:
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not UTF-8 text.", code="invalid_json") from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise _too_deep()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg}.", code="invalid_json"
        ) from None
    except ValueError:  # an integer literal past `sys.get_int_max_str_digits()`
        raise ValidationFailed(
            f"Numbers in the request body must have at most {sys.get_int_max_str_digits()} digits.",
            code="number_too_long",
        ) from None
    except RecursionError:  # the scan above should make this unreachable; never a 500
        raise _too_deep() from None


def _too_deep() -> ValidationFailed:
    return ValidationFailed(
        f"The request body must not nest arrays and objects more than {MAX_JSON_DEPTH} deep.",
        code="json_too_deep",
    )


async def read_json_object(
    request: Request, max_bytes: int, timeout_s: float | None = None
) -> dict[str, Any]:
    """The body as a JSON object; 413 past `max_bytes`, 408 past `timeout_s`, 400 not JSON,
    422 past the parser's limits."""
    body = await read_body(request, max_bytes, timeout_s)
    if not body.strip():
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    value = parse_json(body)
    if not isinstance(value, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    if b"\\u0000" in body and scrub(value) != value:  # PostgreSQL could not store it
        raise ValidationFailed(
            "Text in the request must not contain NUL characters (\\u0000).",
            code="nul_character",
        )
    if _MAY_HAVE_SURROGATE.search(body) and not _encodable(value):
        raise ValidationFailed(
            "Text in the request must be valid Unicode: a lone surrogate such as \\ud800 "
            "is not a character.",
            code="invalid_text",
        )
    return value


# A lone surrogate arrives escaped (\\ud800) or as surrogate bytes that `surrogatepass` let in;
# no database stores it and no hash can encode it, so it is refused here, not deep inside.
_MAY_HAVE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _encodable(value: Any) -> bool:
    """Whether every string in `value` (keys too) encodes as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(k) and _encodable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_encodable(v) for v in value)
    return True


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not is_ascii_number(raw) or not (low <= int(raw) <= high):
        raise ValidationFailed(
            f"'{name}' must be a whole number from {low} to {high}.",
            fields=[{"field": name, "message": f"must be {low}-{high}"}],
        )
    return int(raw)
