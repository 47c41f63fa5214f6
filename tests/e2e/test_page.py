"""The run page in a real browser: sign in, run a month, see it finish or fail."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from progress_sse.accounting.seed import seed_assets
from tests.e2e.pages import choose_period, signed_in_page, step_statuses
from tests.support import Server, run_server


@contextlib.asynccontextmanager
async def november(make_settings: Any, browser: Any) -> AsyncIterator[tuple[Server, Any]]:
    """A server with a 300-asset demo register and a signed-in page on November 2026."""
    settings = make_settings(progress_interval_s=0.05)
    await seed_assets(settings, "acme", 300)
    async with run_server(settings) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await choose_period(page, 2026, 11)
        yield srv, page


async def test_a_month_runs_to_100_percent_and_shows_its_summary(
    make_settings: Any, browser: Any, artifacts: Path
) -> None:
    async with november(make_settings, browser) as (srv, page):
        await page.click("#start-button")
        # The demo register goes back years: the page explains, and offers to post anyway.
        await page.wait_for_selector("#post-anyway:not([hidden])")
        assert "has no posted depreciation document" in await page.inner_text("#alert")
        await page.click("#post-anyway")
        await page.wait_for_selector("#summary:not([hidden])", timeout=30_000)
        await page.screenshot(path=str(artifacts / "run-completed.png"), full_page=True)
        bar = page.locator("#bar")
        assert await bar.get_attribute("aria-valuenow") == "100"
        assert await bar.get_attribute("data-state") == "completed"
        summary = await page.inner_text("#summary")
        assert "DEP/2026/11/0001" in summary
        assert re.search(r"total IDR\s\d{1,3}(,\d{3})+\.\d\d\.", summary), "grouped, with currency"
        link = await page.get_attribute("#summary a", "href")
        assert link == f"{srv.base_url}/api/depreciation/2026/11?format=csv"
        async with srv.client() as client:
            [document] = (await client.get("/api/depreciation/2026/11/documents")).json()["data"]
        assert document["earlier_unposted"] is not None, "posting anyway is on the record"
        assert await step_statuses(page) == ["completed"] * 5
        assert await page.evaluate("localStorage.getItem('progress-sse.run')") is None
        assert await page.is_enabled("#start-button"), "the form is usable again"


async def test_a_locked_period_is_explained_and_a_failed_run_shows_the_error_state(
    make_settings: Any, browser: Any
) -> None:
    async with run_server(make_settings()) as srv:
        async with srv.client() as client:
            await client.post("/api/periods/2026/10/lock")
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await choose_period(page, 2026, 10)
        await page.click("#start-button")
        await page.wait_for_selector("#alert:not([hidden])")
        assert "locked" in await page.inner_text("#alert")
        assert await page.is_enabled("#start-button")
        # A failing run, started elsewhere, seen from the recent list.
        async with srv.client() as client:
            failing = await client.post(
                "/api/runs",
                json={"kind": "demo", "params": {"items": 5, "delay_ms": 0, "fail_at": 3}},
            )
        run_id = failing.json()["id"]
        await page.reload()
        await page.wait_for_selector("#recent-rows tr")
        await page.click(f"#recent-rows tr:has-text('{run_id}')")
        await page.wait_for_selector("#outcome:not([hidden])")
        assert await page.get_attribute("#bar", "data-state") == "failed"
        assert "Failed: Item 3 could not be processed" in await page.inner_text("#outcome")


async def test_two_tenants_in_two_browsers_never_see_each_others_runs(
    make_settings: Any, browser: Any
) -> None:
    async with run_server(make_settings()) as srv:
        async with srv.client("globex") as globex:
            theirs = await globex.post(
                "/api/runs", json={"kind": "demo", "params": {"items": 2, "delay_ms": 0}}
            )
        acme = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await acme.wait_for_timeout(300)
        rows = await acme.inner_text("#recent-rows")
        assert theirs.json()["id"] not in rows
        # Even asked for by id (a stored id from another tenant), the page shows nothing.
        await acme.evaluate(
            "id => localStorage.setItem('progress-sse.run', id)", theirs.json()["id"]
        )
        await acme.reload()
        await acme.wait_for_selector("#start:not([hidden])")
        # The page drops the foreign id once the server answers 404 (just after sign-in shows).
        await acme.wait_for_function("localStorage.getItem('progress-sse.run') === null")
        assert await acme.is_hidden("#run")
        assert await acme.evaluate("localStorage.getItem('progress-sse.run')") is None


async def test_preview_shows_the_totals_and_posts_nothing(
    make_settings: Any, browser: Any, artifacts: Path
) -> None:
    async with november(make_settings, browser) as (srv, page):
        await page.click("#preview-button")
        await page.wait_for_selector("#summary:not([hidden])", timeout=30_000)
        await page.screenshot(path=str(artifacts / "preview.png"), full_page=True)
        summary = await page.inner_text("#summary")
        assert await step_statuses(page) == ["completed"] * 5
        async with srv.client() as client:
            journal = (await client.get("/api/depreciation/2026/11")).json()
    assert "Preview of 2026-11" in summary and "Nothing was posted." in summary
    assert "tax group 2" in summary and "declining balance" in summary
    assert "has no posted depreciation document" in summary, "what posting would need"
    assert journal["documents"] == []
