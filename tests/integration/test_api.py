"""The JSON API: shapes, status codes and tenant isolation."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from progress_sse import create_app
from progress_sse.errors import Misconfigured
from tests.support import Server, collect, run_server, start_run


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and set(body["error"]) >= {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    return body["error"]


async def test_no_or_bad_key_is_401_on_every_route(server: Server) -> None:
    async with server.client(tenant="") as anonymous:
        for method, path in [
            ("POST", "/api/runs"),
            ("GET", "/api/runs"),
            ("GET", "/api/runs/active"),
            ("GET", "/api/runs/x"),
            ("GET", "/api/runs/x/events"),
            ("GET", "/api/runs/x/log"),
            ("POST", "/api/runs/x/cancel"),
        ]:
            assert_error(await anonymous.request(method, path), 401)
            bad = await anonymous.request(method, path, headers={"Authorization": "Bearer nope"})
            assert_error(bad, 401, "invalid_key")


async def test_another_tenants_run_is_404_everywhere_like_a_missing_one(server: Server) -> None:
    async with server.client("acme") as acme, server.client("globex") as globex:
        run_id = await start_run(acme, items=3, delay_ms=0)
        for method, path in [
            ("GET", f"/api/runs/{run_id}"),
            ("GET", f"/api/runs/{run_id}/events"),
            ("GET", f"/api/runs/{run_id}/log"),
            ("POST", f"/api/runs/{run_id}/cancel"),
        ]:
            theirs = await globex.request(method, path)
            missing = await globex.request(method, path.replace(run_id, "0" * 26))
            assert_error(theirs, 404, "run_not_found")
            assert theirs.json() == missing.json()
            assert theirs.headers["content-type"] == "application/json"
        listed = (await globex.get("/api/runs")).json()["data"]
        assert run_id not in [r["id"] for r in listed]
        active = (await globex.get("/api/runs/active")).json()
        assert active["status"] == "no_active_progress"


async def test_bad_input_gets_a_clear_status_and_writes_nothing(server: Server) -> None:
    async with server.client() as client:
        assert_error(await client.post("/api/runs", content=b"{not json"), 400, "invalid_json")
        assert_error(await client.post("/api/runs", content=b"[1,2]"), 400, "invalid_json")
        assert_error(await client.post("/api/runs", json={"params": {}}), 422)
        err = assert_error(
            await client.post("/api/runs", json={"kind": "nope"}), 422, "unknown_kind"
        )
        assert "demo" in err["message"]
        err = assert_error(
            await client.post("/api/runs", json={"kind": "demo", "params": {"items": 0}}), 422
        )
        assert err["fields"][0]["field"] == "params.items"
        assert_error(
            await client.post("/api/runs", json={"kind": "demo", "params": {"bogus": 1}}), 422
        )
        big = {"kind": "demo", "params": {"lock": "x" * 100_000}}
        assert_error(await client.post("/api/runs", json=big), 413, "payload_too_large")
        assert_error(await client.get("/api/runs?status=weird"), 422)
        assert_error(await client.get("/api/runs?limit=0"), 422)
        assert (await client.get("/api/runs")).json()["data"] == [], "nothing half-written"


async def test_second_start_for_the_same_lock_is_409_naming_the_active_run(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        first = await start_run(client, items=5, lock="month")
        second = await client.post("/api/runs", json={"kind": "demo", "params": {"lock": "month"}})
        err = assert_error(second, 409, "run_active")
        assert err["run_id"] == first
        other = await start_run(client, items=5, lock="other-month")
        await client.post(f"/api/runs/{first}/cancel")
        again = await start_run(client, items=5, lock="month")
    assert len({first, other, again}) == 3, "the lock frees once the run ends"


async def test_idempotency_key_returns_the_same_run(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        body = {"kind": "demo", "params": {"items": 4}}
        headers = {"Idempotency-Key": "order-42"}
        one = await client.post("/api/runs", json=body, headers=headers)
        two = await client.post("/api/runs", json=body, headers=headers)
        assert one.status_code == two.status_code == 202
        assert one.json()["id"] == two.json()["id"]
        assert two.headers["idempotent-replayed"] == "true"
        reused = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 5}}, headers=headers
        )
        assert_error(reused, 409, "idempotency_key_reused")
        assert len((await client.get("/api/runs")).json()["data"]) == 1


async def test_start_answers_202_with_urls_and_pending_steps(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        response = await client.post("/api/runs", json={"kind": "demo", "params": {"items": 2}})
        body = response.json()
        steps = (await client.get(body["url"])).json()["data"]["steps"]
    assert response.status_code == 202 and body["success"] is True
    assert body["url"] == f"/api/runs/{body['id']}"
    assert body["events_url"] == f"/api/runs/{body['id']}/events"
    assert body["data"]["status"] == "pending" and body["data"]["tenant"] == "acme"
    assert [s["name"] for s in steps] == ["init", "prepare", "load", "process", "finalize"]
    assert {s["status"] for s in steps} == {"pending"}


async def test_list_show_active_and_log(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings()) as srv, srv.client() as client:
        done = await start_run(client, items=3, delay_ms=0, lock="a")
        await collect(client, f"/api/runs/{done}/events")
        failed = await start_run(client, items=3, delay_ms=0, fail_at=2, lock="b")
        await collect(client, f"/api/runs/{failed}/events")
        active = await start_run(client, items=10_000, delay_ms=10, lock="c")

        page = (await client.get("/api/runs?limit=2")).json()
        assert [r["id"] for r in page["data"]] == [active, failed], "newest first"
        rest = (await client.get(f"/api/runs?limit=2&cursor={page['next_cursor']}")).json()
        assert [r["id"] for r in rest["data"]] == [done] and rest["next_cursor"] is None
        only_failed = (await client.get("/api/runs?status=failed")).json()["data"]
        assert [r["id"] for r in only_failed] == [failed]

        now = (await client.get("/api/runs/active?kind=demo")).json()
        assert now["success"] is True and now["data"]["id"] == active
        assert len(now["data"]["steps"]) == 5
        assert now["progress"] == now["data"], "the first name, kept as an alias"

        shown = (await client.get(f"/api/runs/{done}")).json()["data"]
        assert shown["status"] == "completed" and shown["stale"] is False
        assert [s["status"] for s in shown["steps"]] == ["completed"] * 5
        assert shown["result"] == {"items": 3, "total_value": 14}
        assert shown["summary"] == "Processed 3 items (total value 14).", "the kind's sentence"

        log = (await client.get(f"/api/runs/{done}/log")).json()
        assert log["data"][-1]["event"] == "complete" and log["total"] == len(log["data"])
        as_csv = await client.get(f"/api/runs/{done}/log?format=csv")
        assert as_csv.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert [int(r["seq"]) for r in rows] == [e["seq"] for e in log["data"]]
        assert rows[-1]["event"] == "complete"
        await client.post(f"/api/runs/{active}/cancel")
        await collect(client, f"/api/runs/{active}/events")
        none = (await client.get("/api/runs/active")).json()
    assert none == {
        "success": False,
        "status": "no_active_progress",
        "data": None,
        "progress": None,
        "message": "No run is active right now.",
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_endpoints_answer_and_log_only_their_access_line(
    server: Server, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with server.client(tenant="") as client:
        responses = [await client.get(path) for _ in range(3)]
    assert [r.status_code for r in responses] == [200] * 3
    logged = [r.name for r in caplog.records if r.levelno >= logging.INFO and r.name != "httpx"]
    assert logged == ["progress_sse.access"] * 3, f"a probe must not fill the log: {logged}"


async def test_readiness_fails_when_the_schema_is_missing(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/never-migrated.db")
    settings = settings.model_copy(update={"run_jobs": False})
    async with run_server(settings, keys=False) as srv, srv.client(tenant="") as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
    assert alive.status_code == 200
    assert ready.status_code == 503 and ready.json()["checks"]["database"] is False


async def test_an_app_that_runs_jobs_on_a_database_never_migrated_says_what_to_run(
    make_settings: Any, tmp_path: Path
) -> None:
    """As `serve` and `worker` do: an integrator's `create_app` hears the command, not
    `no such table`."""
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/never-migrated.db")
    app = create_app(settings)
    with pytest.raises(Misconfigured, match=r"run `progress-sse db upgrade` before starting"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_percentage_is_always_a_json_float(server: Server) -> None:
    """`100.0`, never `100`: a client in a typed language reads one type (a step boundary
    such as 15 once came out as an integer)."""
    async with server.client() as client:
        run_id = await start_run(client, items=4, delay_ms=0)
        frames = await collect(client, f"/api/runs/{run_id}/events")
        shown = (await client.get(f"/api/runs/{run_id}")).json()["data"]
        listed = (await client.get("/api/runs")).json()["data"]
        log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    numbers = [f.data["percentage"] for f in frames if "percentage" in f.data]
    numbers += [shown["percentage"], *(r["percentage"] for r in listed)]
    numbers += [e["data"]["percentage"] for e in log]
    numbers += [s[edge] for s in shown["steps"] for edge in ("pct_start", "pct_end")]
    assert len(numbers) > 10 and 100.0 in numbers and 15.0 in numbers
    assert [n for n in numbers if not isinstance(n, float)] == []
