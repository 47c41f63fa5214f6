"""Pause on the page, in Chromium (issue 19): the Pause button next to Cancel stops an import
after the chunk it is in, the bar says paused, Resume continues it to the end; a
depreciation run offers no Pause; a batch pauses between its parts. Desktop and phone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from progress_sse.accounting.asset_import.job import ASSET_IMPORT
from progress_sse.accounting.seed import seed_assets
from tests.e2e.pages import (
    NO_SIDEWAYS_SCROLL,
    VIEWPORTS,
    open_batch,
    open_run,
    signed_in_page,
    start_month,
)
from tests.integration.test_asset_import import csv_text, good_rows, upload
from tests.integration.test_pause import Hold, demo_child
from tests.support import run_server, tripping

PAUSE, RESUME, CANCEL = "#progress >> #pause", "#progress >> #resume", "#progress >> #cancel"


@pytest.mark.parametrize("screen", sorted(VIEWPORTS))
async def test_pause_stops_an_import_after_its_chunk_and_resume_finishes_it(
    make_settings: Any, browser: Any, artifacts: Path, screen: str
) -> None:
    hold = Hold()  # the import waits after its second chunk: the moment Pause is pressed
    async with run_server(make_settings(progress_interval_s=0.05)) as srv:
        srv.services.registry.replace(tripping(ASSET_IMPORT, hold))
        page = await signed_in_page(
            browser, srv.base_url, srv.keys["acme"], viewport=VIEWPORTS[screen]
        )
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        async with srv.client() as client:
            run_id = await upload(client, csv_text(good_rows(23)), chunk_size=5)
        await asyncio.wait_for(hold.reached.wait(), 30)
        await open_run(page, run_id)
        assert await page.is_visible(PAUSE) and await page.is_visible(CANCEL), "side by side"
        await page.click(PAUSE)
        await page.wait_for_selector(f"{PAUSE}:has-text('Pausing')")
        hold.release.set()
        await page.wait_for_selector("#progress >> #bar[data-state='paused']", timeout=30_000)
        await page.wait_for_selector(f"{RESUME}:not([hidden])")
        assert await page.is_hidden(PAUSE), "a paused run is not paused again"
        assert await page.is_visible(CANCEL), "a paused run can be cancelled"
        assert "Paused" in await page.inner_text("#progress >> #message")
        assert await page.is_hidden("#progress >> #stale"), "a paused run is not stale"
        assert not await page.is_enabled("#start-button"), "it still holds its work"
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await page.screenshot(path=str(artifacts / f"paused-import-{screen}.png"), full_page=True)

        await page.click(RESUME)
        await page.wait_for_selector("#progress >> #outcome:not([hidden])", timeout=30_000)
        assert await page.get_attribute("#progress >> #bar", "data-state") == "completed"
        assert await page.is_hidden(PAUSE) and await page.is_hidden(RESUME)
    assert errors == []


async def test_a_depreciation_run_offers_no_pause(make_settings: Any, browser: Any) -> None:
    settings = make_settings(run_jobs=False)  # it stays queued: no worker in this test
    await seed_assets(settings, "acme", 5)
    async with run_server(settings) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await start_month(page, 2026, 9)
        await page.wait_for_selector(f"{CANCEL}:not([hidden])")
        assert await page.is_hidden(PAUSE), "one transaction: nothing to pause between"


async def test_a_batch_pauses_between_its_parts_from_the_page(
    make_settings: Any, browser: Any
) -> None:
    async with run_server(make_settings(progress_interval_s=0.05)) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        async with srv.client() as client:
            body = {"name": "Two parts", "children": [
                demo_child("first", 30, 60), demo_child("second", 3, 1),
            ]}  # fmt: skip
            batch_id = (await client.post("/api/batches", json=body)).json()["id"]
        await open_batch(page, batch_id)
        await page.click("#batch-progress >> #pause")
        await page.wait_for_selector("#batch-progress >> #bar[data-state='paused']", timeout=30_000)
        statuses = await page.eval_on_selector_all(
            "#batch-children li.child", "els => els.map(e => e.dataset.status)"
        )
        assert statuses == ["succeeded", "pending"], "the running part finished; no other began"
        await page.click("#batch-progress >> #resume")
        await page.wait_for_selector("#batch-progress >> #outcome:not([hidden])", timeout=30_000)
        assert await page.get_attribute("#batch-progress >> #bar", "data-state") == "completed"
