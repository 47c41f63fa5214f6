"""The session cookie: what it carries, and what is refused before any lookup."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from progress_sse.errors import Unauthorized
from progress_sse.web.security.websession import COOKIE, SessionCodec, session_id

CODEC = SessionCodec("unit-test-secret", ttl_s=3600, secure=None)


def request_with(cookie: str | None) -> Request:
    headers = [(b"cookie", f"{COOKIE}={cookie}".encode())] if cookie is not None else []
    return Request({"type": "http", "scheme": "http", "headers": headers, "path": "/"})


def issued_cookie(token: str) -> tuple[str, str]:
    response = Response()
    web = CODEC.issue(response, request_with(None), token)
    value = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    return value, web.csrf


def test_the_cookie_carries_the_session_token_and_csrf_token_only() -> None:
    value, csrf = issued_cookie("the-token")
    assert CODEC.serializer.loads(value) == {"s": "the-token", "c": csrf}
    web = CODEC.read(request_with(value))
    assert web is not None and web.token == "the-token" and web.csrf == csrf
    assert web.row_id == session_id("the-token") != "the-token", "only a hash is stored"


def test_no_cookie_is_no_session() -> None:
    assert CODEC.read(request_with(None)) is None


@pytest.mark.parametrize(
    "value",
    [
        "forged.value.here",
        SessionCodec("another-secret", 3600, None).serializer.dumps({"s": "t", "c": "c"}),
        CODEC.serializer.dumps({"k": 1, "c": "c"}),  # signed before sessions were stored
        CODEC.serializer.dumps(["s", "c"]),
    ],
    # Signed values carry a timestamp: stable ids keep xdist workers' collections identical.
    ids=["unsigned", "other-secret", "pre-session-format", "a-list"],
)
def test_a_forged_or_old_format_cookie_is_an_invalid_session(value: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        CODEC.read(request_with(value))
    assert refused.value.code == "invalid_session"
