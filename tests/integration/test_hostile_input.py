"""Hostile input end to end: text that tries to forge events, odd Last-Event-IDs, huge headers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict

from progress_sse.errors import JobError
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind
from progress_sse.ops.logs import RunContext, formatter
from progress_sse.runs.progress import StepSpec
from progress_sse.storage.text import scrub
from tests.integration.test_asset_import import HEADER
from tests.support import Server, collect, run_server, start_run
from tests.whatwg_sse import parse

FORGERY = "ok\r\nevent: complete\r\ndata: {}\r\n\r\nid: 999\n\ndata: x\u2028y\u2029\0z\x85"


class HostileParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def hostile_job(ctx: JobContext, _params: HostileParams) -> dict[str, Any]:
    async with ctx.step(FORGERY, message=FORGERY, total=2):
        await ctx.progress(processed=1, message=FORGERY)
        await ctx.note(FORGERY)
    raise JobError(FORGERY, code="hostile")


HOSTILE = JobKind("hostile", HostileParams, hostile_job, steps=(StepSpec(FORGERY, 0, 100),))


async def test_text_that_tries_to_forge_events_arrives_as_data_of_one_event(
    make_settings: Any,
) -> None:
    async with run_server(make_settings(), jobs=[HOSTILE]) as srv, srv.client() as client:
        run_id = await start_run(client, "hostile")
        async with client.stream(
            "GET", f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"}
        ) as response:
            raw = await response.aread()
        stored = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    events, _ = parse(raw)
    assert [e.type for e in events][-2:] == ["error", "end"]
    ids = [int(e.last_event_id) for e in events[:-1]]
    assert ids == sorted(set(ids)) and set(ids) <= {s["seq"] for s in stored}
    messages = [json.loads(e.data).get("message") for e in events[:-1]]
    assert scrub(FORGERY) in messages, "the text arrives intact (NUL as U+FFFD, as stored)"
    terminal = json.loads(events[-2].data)
    assert terminal["message"] == scrub(FORGERY) and terminal["error_code"] == "hostile"
    assert b"\r" not in raw and b"\0" not in raw and "\u2028".encode() not in raw


@pytest.mark.parametrize(
    "last_id", ["junk", "-1", "1e3", "0x10", "99999999999999999999", "9007199254740993"]
)
async def test_an_odd_last_event_id_gets_the_current_state_not_a_replay(
    server: Server, last_id: str
) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0)
        full = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        odd = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": last_id}
        )
    assert len(full) > 3, "from 0 the whole history is replayed"
    assert [f.event for f in odd] == ["complete", "end"], "odd ids get the current state only"
    assert odd[0].seq == full[-2].seq


async def test_an_id_from_a_longer_run_is_ignored_not_scanned_for(server: Server) -> None:
    async with server.client() as client:
        long_run = await start_run(client, items=50, delay_ms=10, lock="long")  # many events
        long_frames = await collect(
            client, f"/api/runs/{long_run}/events", headers={"Last-Event-ID": "0"}
        )
        short = await start_run(client, items=1, delay_ms=0, lock="short")
        await collect(client, f"/api/runs/{short}/events")
        foreign_id = str(long_frames[-2].seq)  # beyond anything the short run has
        frames = await collect(
            client, f"/api/runs/{short}/events", headers={"Last-Event-ID": foreign_id}
        )
    assert frames[0].seq < int(foreign_id), "the id was beyond the short run's history"
    assert [f.event for f in frames] == ["complete", "end"]


async def test_reconnecting_with_the_terminal_events_id_gets_end_at_once(server: Server) -> None:
    """A connection that broke after the terminal event but before `end` must not hang."""
    async with server.client() as client:
        run_id = await start_run(client, items=2, delay_ms=0)
        frames = await collect(client, f"/api/runs/{run_id}/events")
        terminal = frames[-2]
        again = await collect(
            client,
            f"/api/runs/{run_id}/events",
            headers={"Last-Event-ID": str(terminal.seq)},
            limit_s=5,
        )
    assert terminal.event == "complete" and [f.event for f in again] == ["end"]


async def test_huge_headers_get_400_and_touch_nothing(make_settings: Any) -> None:
    async with run_server(make_settings(max_header_bytes=4096)) as srv, srv.client() as client:
        big = await client.post(
            "/api/runs",
            json={"kind": "demo", "params": {}},
            headers={"X-Filler": "a" * 8000},
        )
        long_url = await client.get("/api/runs?kind=" + "k" * 8000)
        listed = (await client.get("/api/runs")).json()["data"]
    for answer in (big, long_url):
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "headers_too_large"
    assert listed == []


async def test_the_access_log_never_shows_a_query_value_that_may_be_secret(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    key = server.keys["acme"]
    with caplog.at_level(logging.INFO, logger="progress_sse.access"):
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            await client.get(f"/api/runs?limit=5&api_key={key}&token=abc")
    lines = [r.getMessage() for r in caplog.records if r.name == "progress_sse.access"]
    assert any("GET /api/runs?limit=5&api_key=***&token=*** 401" in line for line in lines)
    assert key not in caplog.text


async def test_a_nul_in_request_text_is_422_and_writes_nothing(server: Server) -> None:
    """PostgreSQL cannot store NUL: it is refused at the door, alike on both databases."""
    async with server.client() as client:
        params = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"lock": "month\x00end"}}
        )
        upload = await client.post(
            "/api/assets/import", content=f"{HEADER}\nA-1,Tru\x00ck\n".encode(),
            headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        listed = (await client.get("/api/runs")).json()["data"]
    assert params.status_code == 422 and params.json()["error"]["code"] == "nul_character"
    assert upload.status_code == 422 and "NUL" in upload.json()["error"]["message"]
    assert listed == []


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/assets?after_code=%00"),
        ("GET", "/api/runs?kind=%00"),
        ("GET", "/api/runs/%00"),
        ("GET", "/api/runs/active?kind=%00"),
        ("GET", "/api/runs/x%00y/events"),
        ("GET", "/api/assets/imports/%00/rejected.csv"),
        ("POST", "/api/runs/%00/cancel"),
        ("POST", "/api/assets/import?filename=a%00b.csv"),
    ],
)
async def test_a_nul_in_the_url_is_400_on_every_database(
    server: Server, method: str, url: str
) -> None:
    async with server.client() as client:
        response = await client.request(method, url, content=b"code\n")
    assert response.status_code == 400, response.text
    assert "NUL" in response.json()["error"]["message"]


HUGE_JSON = {
    "nested 30,000 deep": (
        b'{"api_key": "k", "kind": "demo", "params": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        "json_too_deep",
        "The request body must not nest arrays and objects more than 64 deep.",
    ),
    "an integer of 5,000 digits": (
        b'{"api_key": "k", "kind": "demo", "params": {"items": ' + b"9" * 5000 + b"}}",
        "number_too_long",
        "Numbers in the request body must have at most 4300 digits.",
    ),
    "a lone surrogate": (
        b'{"api_key": "\\ud800", "kind": "\\udfff"}',
        "invalid_text",
        "Text in the request must be valid Unicode: a lone surrogate such as \\ud800 "
        "is not a character.",
    ),
}


@pytest.mark.parametrize("shape", list(HUGE_JSON))
@pytest.mark.parametrize(("path", "tenant"), [("/api/session", ""), ("/api/runs", "acme")])
async def test_json_past_the_parsers_limits_is_422_with_no_error_logged(
    server: Server, caplog: pytest.LogCaptureFixture, shape: str, path: str, tenant: str
) -> None:
    """Not a 500 with two tracebacks: one access line, even before sign-in."""
    body, code, message = HUGE_JSON[shape]
    with caplog.at_level(logging.INFO):
        async with server.client(tenant) as client:
            answer = await client.post(
                path, content=body, headers={"Content-Type": "application/json"}
            )
        served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    async with server.client() as client:
        listed = (await client.get("/api/runs")).json()["data"]
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == {"code": code, "message": message}
    assert [(r.name, r.levelname) for r in served] == [("progress_sse.access", "INFO")]
    assert f"POST {path} 422" in served[0].getMessage()
    assert listed == []


FORGING_URL = "/api/runs/x%0A2026-01-01%2000:00:00,000%20CRITICAL%20progress_sse.auth:%20FORGED"


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_a_newline_in_the_url_cannot_forge_a_log_line(server: Server, fmt: str) -> None:
    """`%0A` is decoded into the path; the access log shows it as `\\n` on its one line."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RunContext())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        async with server.client() as client:
            answer = await client.get(FORGING_URL)
    finally:
        root.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    access = [line for line in lines if "progress_sse.access" in line]
    assert answer.status_code == 404 and len(access) == 1, lines
    message = json.loads(access[0])["message"] if fmt == "json" else access[0]
    assert (
        "GET /api/runs/x\\n2026-01-01 00:00:00,000 CRITICAL progress_sse.auth: FORGED 404"
        in message
    )
    assert not any(line.startswith("2026-01-01") for line in lines)


async def raw_request(port: int, head: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    return reader, writer


POST_HEAD = (
    b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 1000\r\n\r\n{"api_key": "pss_'
)


async def test_a_body_that_never_arrives_is_408_and_the_connection_closes(
    make_settings: Any,
) -> None:
    async with run_server(make_settings(timeout_request_body_s=1)) as srv:
        port = int(srv.base_url.rsplit(":", 1)[1])
        reader, writer = await raw_request(port, POST_HEAD)
        answer = await asyncio.wait_for(reader.read(), 10)  # all of it, to the close
        writer.close()
        await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request_timeout" in answer and b"connection: close" in answer.lower()


async def test_a_client_gone_mid_body_leaves_one_log_line_not_tracebacks(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    with caplog.at_level(logging.INFO):
        _reader, writer = await raw_request(port, POST_HEAD)
        writer.close()  # gone, 990 bytes short
        await writer.wait_closed()
        for _ in range(50):  # bounded: until the server has logged the request
            if any(r.name == "progress_sse.access" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    served = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert [(r.name, r.levelname) for r in served] == [("progress_sse.access", "INFO")]
