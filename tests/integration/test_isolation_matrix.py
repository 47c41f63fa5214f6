"""Every route, asked by every kind of caller: own admin, own member, another tenant,
a revoked key, nobody. Statuses are exact, and nothing of acme's reaches anyone else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from progress_sse.accounting.seed import seed_assets
from progress_sse.mail.recipients import Recipients
from progress_sse.web.security.auth import Role, create_key, revoke_key
from tests.support import Server, collect, run_server, run_status, start_run, wait_for

# The admin goes last: its writes (delete, retry) must not be what makes others' 404s.
CALLERS = ("other", "member", "revoked", "nobody", "admin")


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {run} is acme's finished run, {batch} its batch, {hook} its webhook,
    # {failed} its dead letter, {recipient} its mail recipient
    expect: dict[str, int]  # caller -> status
    body: Any = None

    @property
    def route(self) -> tuple[str, str]:
        return self.method, self.path


def allowed(admin: int, member: int | None = None, other: int | None = None) -> dict[str, int]:
    """Own admin / member / other tenant; a revoked key and no key are always 401."""
    member = admin if member is None else member
    return {
        "admin": admin,
        "member": member,
        "other": admin if other is None else other,
        "revoked": 401,
        "nobody": 401,
    }


PUBLIC = dict.fromkeys(CALLERS, 200)
CASES = [
    Case("GET", "/", PUBLIC),
    Case("GET", "/assets/{name}", dict.fromkeys(CALLERS, 404)),  # an unknown asset name
    Case("GET", "/client/progress-run.js", PUBLIC),  # the embeddable client: no data in it
    Case("GET", "/healthz", PUBLIC),
    Case("GET", "/readyz", PUBLIC),
    Case("GET", "/metrics", PUBLIC),  # kinds and statuses only: no tenant, no run
    Case("POST", "/api/session", {**allowed(200), "revoked": 401, "nobody": 422}, "key"),
    Case("GET", "/api/session", {**allowed(200), "nobody": 200}),  # {"signed_in": false}
    Case("DELETE", "/api/session", allowed(200)),
    Case("POST", "/api/runs", allowed(202), "start"),
    Case("GET", "/api/runs", allowed(200)),
    Case("GET", "/api/runs/active", allowed(200)),
    Case("GET", "/api/runs/{run}", allowed(200, other=404)),
    Case("GET", "/api/runs/{run}/events", allowed(200, other=404)),
    Case("GET", "/api/runs/{run}/log", allowed(200, other=404)),
    Case("GET", "/api/runs/{run}/report", allowed(200, other=404)),  # HTML, same tenancy
    Case("POST", "/api/runs/{run}/cancel", allowed(409, other=404)),
    Case("POST", "/api/runs/{run}/resume", allowed(409, other=404)),
    Case("POST", "/api/runs/{run}/pause", allowed(409, other=404)),  # a demo run: not_pausable
    Case("POST", "/api/batches", allowed(202), "batch"),
    Case("GET", "/api/batches", allowed(200)),
    Case("GET", "/api/batches/{batch}", allowed(200, other=404)),
    Case("GET", "/api/batches/{batch}/events", allowed(200, other=404)),
    Case("POST", "/api/batches/{batch}/cancel", allowed(409, other=404)),  # it has ended
    Case("POST", "/api/batches/{batch}/resume", allowed(409, other=404)),  # it completed
    Case("POST", "/api/batches/{batch}/pause", allowed(409, other=404)),  # it has ended
    Case("GET", "/api/kinds", allowed(200)),
    Case("GET", "/api/periods", allowed(200)),
    Case("POST", "/api/periods/{year}/{month}/lock", allowed(200, member=403)),
    Case("POST", "/api/periods/{year}/{month}/unlock", allowed(200, member=403)),
    Case("GET", "/api/depreciation/{year}/{month}", allowed(200)),
    Case("GET", "/api/depreciation/{year}/{month}/documents", allowed(200)),
    Case("GET", "/api/assets", allowed(200)),
    Case("POST", "/api/assets/import", allowed(422), b""),  # auth first, then the empty CSV
    # an admin's: the file is refused before anything starts (so no month gets locked)
    Case("POST", "/api/close/{year}/{month}", allowed(422, member=403), b"x,y\n1,2\n"),
    # {run} is a demo run: not an import, so 404 for everyone (another tenant's: 404 too)
    Case("GET", "/api/assets/imports/{run}/rejected.csv", allowed(404)),
    Case("POST", "/api/admin/tenants/{tenant}/reset", allowed(200, member=403, other=404)),
    Case("POST", "/api/admin/cleanup", allowed(200, member=403), {"older_than_days": 365}),
    Case("POST", "/api/admin/sessions/revoke", allowed(200, member=403), {}),
    Case("POST", "/api/webhooks", allowed(422, member=403), {"url": "ftp://x.example/"}),
    Case("GET", "/api/webhooks", allowed(200, member=403)),
    Case("GET", "/api/notifications/failed", allowed(200, member=403)),
    Case("POST", "/api/notifications/failed/{failed}/retry", allowed(202, member=403, other=404)),
    Case("POST", "/api/mail/recipients", allowed(422, member=403), {"address": "Bob <b@x.y>"}),
    Case("GET", "/api/mail/recipients", allowed(200, member=403)),
    Case(
        "PATCH",
        "/api/mail/recipients/{recipient}",
        allowed(200, member=403, other=404),
        {"events": ["error"]},
    ),
    Case("DELETE", "/api/mail/recipients/{recipient}", allowed(200, member=403, other=404)),
    Case("DELETE", "/api/webhooks/{hook}", allowed(200, member=403, other=404)),  # last: cascades
]
ACME_HOOK = "https://acme-hook.invalid/x"  # never resolves: its notification dies at once
ACME_MAIL = "acme-mail@example.com"  # mail is not configured here: nothing is queued for it


def test_the_matrix_covers_every_route_of_the_app() -> None:
    from progress_sse.web.app import create_app

    app = create_app()
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert {shape(r) for r in served} == {shape(case.route) for case in CASES}


def shape(route: tuple[str, str]) -> tuple[str, str]:
    """Path parameters by position only: `/api/runs/{run_id}` and `{run}` are one route."""
    return route[0], re.sub(r"\{[^}]*\}", "{}", route[1])


def concrete(path: str, ids: dict[str, Any]) -> str:
    return path.format(**ids, year=2026, month=1, tenant="acme", name="app.nothing.js")


async def ask(
    client: httpx.AsyncClient, case: Case, ids: dict[str, Any], key: str | None, caller: str
) -> httpx.Response:
    url = concrete(case.path, ids)
    if case.body == "start":  # a lock of each caller's own, so no start waits on another
        params = {"delay_ms": 0, "items": 1, "lock": caller}
        return await client.post(url, json={"kind": "demo", "params": params})
    if case.body == "batch":
        child = {"kind": "demo", "params": {"delay_ms": 0, "items": 1, "lock": f"b-{caller}"}}
        return await client.post(url, json={"name": caller, "children": [child]})
    if case.body == "key":
        return await client.post(url, json={"api_key": key} if key else {})
    if isinstance(case.body, bytes):
        return await client.request(case.method, url, content=case.body)
    return await client.request(case.method, url, json=case.body)


async def test_every_route_for_every_caller(make_settings: Any) -> None:
    # The revoked key is refused on every route from one address: well past the default
    # limit of refused attempts per address (tested in test_failed_auth_limit.py).
    settings = make_settings(rate_limit_failed_auth="1000/minute")
    await seed_assets(settings, "acme", 3)
    async with run_server(settings) as srv, srv.client() as acme:
        hook = await srv.services.outbox.add_webhook("acme", ACME_HOOK, ["complete"])
        mail = await Recipients(srv.services.sessions).add("acme", ACME_MAIL, ["complete"])
        run_id = await start_run(acme, items=2, delay_ms=0)
        await collect(acme, f"/api/runs/{run_id}/events")  # finished
        letters = await wait_for(lambda: dead_letters(srv))
        child = {"kind": "demo", "params": {"items": 1, "delay_ms": 0, "lock": "batch"}}
        batch = (await acme.post("/api/batches", json={"name": "b", "children": [child]})).json()
        await collect(acme, batch["events_url"])  # finished
        ids = {"run": run_id, "batch": batch["id"], "hook": hook.id, "failed": letters[0].id,
               "recipient": mail.id}  # fmt: skip
        marker_assets = [a["code"] for a in (await acme.get("/api/assets")).json()["data"]]
        revoked = await create_key(srv.services.sessions, "acme", Role.ADMIN)
        await revoke_key(srv.services.sessions, revoked[:10])
        keys = {
            "admin": srv.keys["acme"],
            "member": srv.keys["acme-member"],
            "other": srv.keys["globex"],
            "revoked": revoked,
            "nobody": None,
        }
        seen: list[tuple[str, str, str, int]] = []
        for case in CASES:
            for caller in CALLERS:
                key = keys[caller]
                headers = {"Authorization": f"Bearer {key}"} if key and case.body != "key" else {}
                async with httpx.AsyncClient(
                    base_url=srv.base_url, headers=headers, timeout=30
                ) as client:
                    response = await ask(client, case, ids, key, caller)
                seen.append((case.method, case.path, caller, response.status_code))
                assert response.status_code == case.expect[caller], (case, caller, response.text)
                if caller != "admin" and caller != "member":
                    assert run_id not in response.text, (case, caller)
                    assert batch["id"] not in response.text, (case, caller)
                    assert "acme-hook" not in response.text, (case, caller)
                    assert ACME_MAIL not in response.text, (case, caller)
                    assert not any(code in response.text for code in marker_assets), (case, caller)
                if response.status_code >= 400:
                    assert response.json()["success"] is False
                    assert "Traceback" not in response.text
        state = await run_status(acme, run_id)
        periods = (await acme.get("/api/periods")).json()["data"]
    assert state["status"] == "completed", "nobody else's request changed acme's run"
    assert not [p for p in periods if p.get("locked")], "acme's own lock/unlock left it open"
    assert len(seen) == len(CASES) * len(CALLERS)


async def dead_letters(server: Server) -> list[Any]:
    rows, _total = await server.services.outbox.failed("acme", retried=None, limit=5)
    return rows


@pytest.mark.parametrize(
    "path", ["/api/runs/{run}", "/api/runs/{run}/log", "/api/runs/{run}/report"]
)
async def test_a_foreign_run_and_a_missing_run_answer_byte_for_byte_alike(
    server: Server, path: str
) -> None:
    async with server.client("acme") as acme, server.client("globex") as globex:
        run_id = await start_run(acme, items=1, delay_ms=0)
        missing_id = "0" * len(run_id)
        theirs = await globex.get(concrete(path, {"run": run_id}))
        missing = await globex.get(concrete(path, {"run": missing_id}))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content
    drop = {"date", "content-length"}
    assert {k: v for k, v in theirs.headers.items() if k not in drop} == {
        k: v for k, v in missing.headers.items() if k not in drop
    }
