"""The browser client from outside: an installed package's job started from the form the
page draws from its params model, the page mounted under a prefix inside another
application, and `<progress-run>` embedded in that application's own page. Each on a
desktop and a 390 x 844 phone viewport."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from progress_sse import JobContext, JobKind, create_app
from progress_sse.web.security.auth import Role, create_key
from progress_sse.web.services import Services
from tests.e2e.pages import (
    NO_SIDEWAYS_SCROLL,
    VIEWPORTS,
    fill_params,
    signed_in_page,
    step_statuses,
)
from tests.support import run_server, run_status, serving, start_run

PREFIX = "/progress"
CLIENT = f"{PREFIX}/client/progress-run.js"
FILLED = """(() => {
  const fill = document.querySelector('progress-run').shadowRoot.getElementById('fill');
  return fill.getBoundingClientRect().width >= fill.parentElement.getBoundingClientRect().width - 1;
})()"""


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> dict[str, int]:
    return VIEWPORTS[request.param]


async def sync_runs(client: Any) -> list[dict[str, Any]]:
    listed = (await client.get("/api/runs", params={"kind": "table_sync"})).json()["data"]
    assert isinstance(listed, list)
    return listed


async def test_an_installed_job_starts_from_its_generated_form_fails_and_resumes(
    make_settings: Any, browser: Any, viewport: dict[str, int], artifacts: Path
) -> None:
    async with run_server(make_settings(progress_interval_s=0.05)) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await page.set_viewport_size(viewport)
        await page.select_option("#kind", "table_sync")
        await page.wait_for_selector('#start-title:has-text("Copy the legacy system\'s tables")')
        tables = page.locator("#param-tables input[type=checkbox]")
        assert await tables.count() == 4, "one box per member of the model's enum"
        assert all([await tables.nth(i).is_checked() for i in range(4)]), "the default: all"
        assert await page.input_value("#param-batch_size") == "500"
        assert await page.get_attribute("#param-batch_size", "min") == "10"

        # The server's 422 is shown at the field it names, and nothing is started.
        for i in range(4):
            await tables.nth(i).uncheck()
        await page.click("#start-button")
        await page.wait_for_selector("#param-tables-error:not([hidden])")
        assert "at least 1" in await page.inner_text("#param-tables-error")
        assert await page.get_attribute("#param-tables", "aria-invalid") == "true"
        assert "correct" in await page.inner_text("#alert")
        async with srv.client() as client:
            assert await sync_runs(client) == [], "a refused form starts nothing"

        # Two tables, a small source, and an outage after two batches: it fails part-way.
        await page.check("#param-tables input[value=customers]")
        await page.check("#param-tables input[value=products]")
        await fill_params(page, batch_size="100", scale="0.25", outage_after="2")
        await page.click("#start-button")
        await page.wait_for_selector("#outcome:not([hidden])", timeout=30_000)
        assert await page.is_hidden("#param-tables-error"), "the old error is gone"
        assert (await page.inner_text("#outcome")).startswith("Failed: ")
        assert await page.get_attribute("#bar", "data-state") == "failed"
        assert await page.is_visible("#resume"), "table_sync is resumable"
        names = await page.eval_on_selector_all("#steps li", "els => els.map(e => e.dataset.step)")
        assert names == ["customers", "products"], "one step per chosen table, in order"
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the form and the run fit the screen"

        await page.click("#resume")
        await page.wait_for_selector("#outcome:has-text('Completed.')", timeout=30_000)
        await page.wait_for_function(FILLED)
        await page.screenshot(
            path=str(artifacts / f"table-sync-{viewport['width']}.png"), full_page=True
        )
        assert await step_statuses(page) == ["completed", "completed"]
        assert await page.get_attribute("#bar", "aria-valuenow") == "100"
        summary = await page.inner_text("#summary")
        assert "Copied 375 rows: customers 300, products 75." in summary, "the kind's sentence"
        assert "records_processed\t375" in summary, "and the result, as the job returned it"
        async with srv.client() as client:
            [run] = await sync_runs(client)
    assert run["status"] == "completed" and run["attempt"] == 2
    assert run["params"]["tables"] == ["customers", "products"]
    assert run["params"]["outage_after"] == 2 and run["params"]["batch_size"] == 100


@contextlib.asynccontextmanager
async def parent_app(settings: Any) -> AsyncIterator[tuple[str, str, Services]]:
    """Another application with ours mounted at /progress and a page of its own at /orders
    that embeds runs (`?runs=a,b`): (its base URL, an admin key, our services)."""
    progress = create_app(settings)

    async def orders(request: Request) -> HTMLResponse:
        runs = [r for r in request.query_params.get("runs", "").split(",") if r]
        elements = "".join(
            f'<section><h2>Order import</h2><progress-run id="r{i}" run-id="{r}" controls>'
            "</progress-run></section>"
            for i, r in enumerate(runs)
        )
        return HTMLResponse(
            "<!doctype html><html><head><meta name=viewport content='width=device-width'>"
            f'<script type="module" src="{CLIENT}"></script></head>'
            f"<body><h1>Orders</h1>{elements}<script>"
            "window.seen = [];"
            "for (const name of ['progress-run:update', 'progress-run:end',"
            "                    'progress-run:problem'])"
            "  document.addEventListener(name, e => window.seen.push([name, e.target.id,"
            "    e.detail.status, e.detail.percentage ?? null]));"
            "</script></body></html>"
        )

    async def edges(request: Request) -> HTMLResponse:
        """The element's edges: an id set before the module loads, a base without its slash,
        and an id that is a path."""
        run = request.query_params["run"]
        return HTMLResponse(
            f'<!doctype html><html><head><script type="module" src="{CLIENT}"></script>'
            '</head><body><progress-run id="late"></progress-run>'
            f'<script>document.getElementById("late").runId = "{run}";</script>'
            f'<progress-run id="noslash" base="{PREFIX}" run-id="{run}"></progress-run>'
            f'<progress-run id="path" run-id="{run}/events"></progress-run></body></html>'
        )

    parent = Starlette(
        routes=[Route("/orders", orders), Route("/edges", edges), Mount(PREFIX, app=progress)],
        lifespan=progress.lifespan,
    )
    async with serving(parent) as base_url:
        svc = progress.state.services
        assert isinstance(svc, Services)
        yield base_url, await create_key(svc.sessions, "acme", Role.ADMIN), svc


async def test_the_page_runs_a_job_under_the_parent_s_prefix(
    make_settings: Any, browser: Any, viewport: dict[str, int]
) -> None:
    async with parent_app(make_settings(progress_interval_s=0.05)) as (base_url, key, _svc):
        context = await browser.new_context(viewport=viewport)
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        await page.goto(base_url + PREFIX)  # no slash: redirected to the page
        assert page.url == f"{base_url}{PREFIX}/"
        await page.fill("#api-key", key)
        await page.click("#sign-in-form button")
        await page.select_option("#kind", "demo")
        await fill_params(page, items="20", delay_ms="20")
        await page.click("#start-button")
        await page.wait_for_selector("#outcome:has-text('Completed.')", timeout=30_000)
        assert await step_statuses(page) == ["completed"] * 5
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await page.reload()  # the cookie is scoped to the prefix, and the session holds
        await page.wait_for_selector("#recent-rows tr")
        await context.close()
    outside = [u for u in requested if not u.startswith(f"{base_url}{PREFIX}")]
    assert requested and outside == [], "every request the page made stayed under the prefix"
    assert any(u.endswith("/events") for u in requested), "it streamed"


async def test_another_application_s_page_embeds_runs_with_progress_run(
    make_settings: Any, browser: Any, viewport: dict[str, int]
) -> None:
    async with parent_app(make_settings(progress_interval_s=0.05)) as (base_url, key, _svc):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base_url + PREFIX, headers=headers) as client:
            finishing = await start_run(client, items=30, delay_ms=30)
            cancelling = await start_run(client, items=400, delay_ms=25, lock="second")
            context = await browser.new_context(viewport=viewport)
            signed_in = await context.request.post(
                f"{base_url}{PREFIX}/api/session", data=json.dumps({"api_key": key}),
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            assert signed_in.status == 200, "the application signs its user in to the service"
            page = await context.new_page()
            await page.goto(f"{base_url}/orders?runs={finishing},{cancelling}")

            first, second = page.locator("#r0"), page.locator("#r1")
            await first.locator("#outcome:has-text('Completed.')").wait_for(timeout=30_000)
            assert await first.locator("#bar").get_attribute("aria-valuenow") == "100"
            assert await first.locator("#steps li").count() == 5
            assert await first.locator("#cancel").is_hidden(), "nothing to cancel once ended"

            await second.locator("#cancel").click()  # its own CSRF token, asked of the session
            await second.locator("#outcome:has-text('Cancelled; nothing was changed.')").wait_for(
                timeout=30_000
            )
            assert await second.locator("#bar").get_attribute("data-state") == "cancelled"
            seen = await page.evaluate("window.seen")
            assert await page.evaluate(NO_SIDEWAYS_SCROLL)
            state = await run_status(client, cancelling)
            await context.close()

            # A browser that is not signed in is told so, and told why.
            stranger = await browser.new_context(viewport=viewport)
            lost = await stranger.new_page()
            await lost.goto(f"{base_url}/orders?runs={finishing}")
            await lost.locator("#r0 #outcome:has-text('Sign in to see this run.')").wait_for()
            problems = await lost.evaluate("window.seen")
            await stranger.close()
    assert state["status"] == "cancelled"
    ends = [(target, status) for name, target, status, _pct in seen if name == "progress-run:end"]
    assert sorted(ends) == [("r0", "completed"), ("r1", "cancelled")], "one end per element"
    updates = [pct for name, el, _s, pct in seen if name == "progress-run:update" and el == "r0"]
    assert updates and updates == sorted(updates), "the host page hears progress, in order"
    assert problems == [["progress-run:problem", "r0", 401, None]]


class Priority(IntEnum):
    LOW = 1
    HIGH = 3


class Address(BaseModel):
    zip: int = Field(ge=1000)


class Unusual(BaseModel):
    """Every shape a team's params model may take, as the page must send it back."""

    model_config = ConfigDict(extra="forbid")
    level: Literal[1, 2, 3] = 2
    priority: Priority = Priority.HIGH
    pick: list[Literal[10, 20]] = [10]
    names: list[str] = Field(default=["a"], min_length=1)
    sizes: list[int] = [1, 2]
    amount: Decimal = Decimal("1.50")
    urgent: bool | None = None
    on: date = date(2026, 11, 30)
    address: Address = Address(zip=1000)
    every: int = Field(default=5, multiple_of=5)


async def params_back(_ctx: JobContext, params: Unusual) -> dict[str, Any]:
    return {"params": params.model_dump(mode="json")}


UNUSUAL = JobKind("unusual", Unusual, params_back, title="Unusual shapes")


async def test_a_generated_form_sends_every_schema_shape_back_typed(
    make_settings: Any, browser: Any, viewport: dict[str, int]
) -> None:
    async with run_server(make_settings(), jobs=[UNUSUAL]) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await page.set_viewport_size(viewport)
        await page.select_option("#kind", "unusual")
        await page.fill("#param-address", '{"zip": 5}')
        await page.click("#start-button")
        await page.wait_for_selector("#param-address-error:not([hidden])")
        assert (await page.inner_text("#param-address-error")).startswith("zip: "), "the sub-field"
        await page.fill("#param-address", "not json")
        await page.click("#start-button")
        assert await page.inner_text("#param-address-error") == "this is not valid JSON"

        await page.fill("#param-address", '{"zip": 12345}')
        await page.fill("#param-names", "x, y")
        await page.fill("#param-sizes", "3, 4")
        await page.fill("#param-amount", "0.10")
        await page.select_option("#param-urgent", label="no")
        await page.check("#param-pick input[value='20']")
        assert await page.get_attribute("#param-every", "step") == "5"
        await page.click("#start-button")
        await page.wait_for_selector("#outcome:has-text('Completed.')", timeout=30_000)
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        async with srv.client() as client:
            [run] = (await client.get("/api/runs", params={"kind": "unusual"})).json()["data"]
    assert run["params"] == {
        "level": 2, "priority": 3, "pick": [10, 20], "names": ["x", "y"], "sizes": [3, 4],
        "amount": "0.10", "urgent": False, "on": "2026-11-30", "address": {"zip": 12345},
        "every": 5,
    }  # fmt: skip


async def test_the_element_takes_an_early_id_a_bare_base_and_refuses_a_path(
    make_settings: Any, browser: Any
) -> None:
    async with parent_app(make_settings()) as (base_url, key, _svc):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base_url + PREFIX, headers=headers) as client:
            run_id = await start_run(client, items=5, delay_ms=0)
        context = await browser.new_context()
        await context.request.post(
            f"{base_url}{PREFIX}/api/session", data=json.dumps({"api_key": key}),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        page = await context.new_page()
        await page.goto(f"{base_url}/edges?run={run_id}")
        for element in ("#late", "#noslash"):
            await page.locator(f"{element} #outcome:has-text('Completed.')").wait_for()
        await page.locator("#path #outcome:has-text('does not exist')").wait_for()
        late_id = await page.get_attribute("#late", "run-id")
        await context.close()
    assert late_id == run_id, "a property set before the module loaded becomes the attribute"
