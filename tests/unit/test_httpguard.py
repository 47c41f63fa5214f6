"""The uvicorn internals `httpguard.py` builds on: if uvicorn changes them, this fails loudly."""

from __future__ import annotations

import inspect

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from progress_sse.settings import Settings
from progress_sse.web.httpguard import PROTOCOL, GuardedHttpToolsProtocol
from progress_sse.web.serving import uvicorn_options


def test_the_overridden_protocol_methods_still_exist_with_their_signatures() -> None:
    expected = {
        "connection_made": ["self", "transport"],
        "connection_lost": ["self", "exc"],
        "on_message_begin": ["self"],
        "on_headers_complete": ["self"],
    }
    for name, parameters in expected.items():
        method = getattr(HttpToolsProtocol, name)
        assert list(inspect.signature(method).parameters) == parameters, name
    assert issubclass(GuardedHttpToolsProtocol, HttpToolsProtocol)


def test_uvicorn_loads_the_guarded_protocol_from_the_serve_options() -> None:
    options = uvicorn_options(Settings(max_connections=500, timeout_keep_alive_s=3))
    config = Config(app=lambda *_: None, **options)
    config.load()
    assert config.http_protocol_class is GuardedHttpToolsProtocol
    assert (config.limit_concurrency, config.timeout_keep_alive) == (500, 3)
    assert PROTOCOL == "progress_sse.web.httpguard:GuardedHttpToolsProtocol"
