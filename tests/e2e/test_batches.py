"""Batches on the page, in Chromium: a row per child above the combined bar, live to the end
on a desktop and a 390 x 844 phone; a failed child and the ones skipped after it, each with
its reason; Cancel and Resume; a dropped connection and a reload; the recent list with a
batch as one row; and the month-end close started with its button next to the month picker
(issue 18).

Expected outcomes come from the scenario (which child was told to fail), not from the page.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from progress_sse.accounting.seed import seed_assets
from tests.e2e.pages import (
    NO_SIDEWAYS_SCROLL,
    VIEWPORTS,
    child_rows,
    choose_period,
    close_month,
    open_batch,
    signed_in_page,
)
from tests.integration.test_asset_import import csv_text, good_rows
from tests.proxy import cuttable
from tests.support import Server, collect, run_server, start_run, wait_for

BAR = "#batch-progress >> #bar"
OUTCOME = "#batch-progress >> #outcome"
BATCH_URL = re.compile(r"/api/batches/[^/?]+$")  # the batch as a whole, not its stream
ROW_MOVING = """() => [...document.querySelectorAll('#batch-children li[data-status="running"]')]
  .some(li => {
    const n = Number(li.querySelector('[role=progressbar]').getAttribute('aria-valuenow'));
    return n > 0 && n < 100; })"""

# The element has read the batch's snapshot after `seq` (so it followed the resumed batch),
# and it has ended again.
AGAIN = """seq => { const el = document.getElementById('batch-progress');
  return el.run && el.run.seq > seq && ['completed', 'failed', 'cancelled'].includes(el.run.status)
    && el.status !== 'running'; }"""


def demo(name: str, *, items: int = 3, delay_ms: int = 5, **more: Any) -> dict[str, Any]:
    """A demo child with a lock of its own (two demo runs on one lock may not overlap)."""
    params = {"items": items, "delay_ms": delay_ms, "lock": name, **more}
    return {"name": name, "kind": "demo", "params": params}


async def start_batch(client: httpx.AsyncClient, name: str, *children: dict[str, Any]) -> str:
    response = await client.post("/api/batches", json={"name": name, "children": list(children)})
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    assert isinstance(batch_id, str)
    return batch_id


@contextlib.asynccontextmanager
async def page_on(
    make_settings: Any, browser: Any, **context: Any
) -> AsyncIterator[tuple[Server, Any]]:
    async with run_server(make_settings(progress_interval_s=0.05)) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"], **context)
        yield srv, page


async def ended(page: Any) -> str:
    await page.wait_for_selector(f"{OUTCOME}:not([hidden])", timeout=30_000)
    return str(await page.inner_text(OUTCOME))


@pytest.mark.parametrize("screen", sorted(VIEWPORTS))
async def test_a_batch_shows_each_child_live_above_the_combined_bar(
    make_settings: Any, browser: Any, artifacts: Path, screen: str
) -> None:
    async with page_on(make_settings, browser, viewport=VIEWPORTS[screen]) as (srv, page):
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        async with srv.client() as client:
            children = [demo(n, items=12, delay_ms=60) for n in ("north", "south", "summary")]
            batch_id = await start_batch(client, "Three books", *children)
        await open_batch(page, batch_id)
        await page.wait_for_function(ROW_MOVING)  # a child's bar moves while it runs
        assert await page.inner_text("#batch-name") == "Three books"
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the rows fit the screen"
        running = [r for r in await child_rows(page) if r["status"] == "running"]
        assert len(running) == 1 and running[0]["step"], "its current step is shown"
        assert "running" in running[0]["said"], "the status in words, not only colour"
        await page.screenshot(path=str(artifacts / f"batch-running-{screen}.png"), full_page=True)

        assert await ended(page) == "Completed: all 3 part(s) succeeded."
        rows = await child_rows(page)
        assert [r["name"] for r in rows] == ["north", "south", "summary"]
        assert [r["status"] for r in rows] == ["succeeded"] * 3
        assert all("succeeded" in r["said"] and r["percent"] == "100" for r in rows), rows
        assert all(r["took"].endswith(" s") for r in rows), rows
        assert await page.get_attribute(BAR, "aria-valuenow") == "100"
        assert await page.get_attribute(BAR, "data-state") == "completed"
        assert await page.inner_text("#batch-counts") == "3 of 3 done"
        assert await page.is_hidden("#batch-progress >> #cancel")
        assert await page.is_hidden("#batch-progress >> #resume")
        # Rows first, the combined bar under them.
        order = await page.evaluate(
            "document.getElementById('batch-children').compareDocumentPosition("
            "document.getElementById('batch-progress')) & Node.DOCUMENT_POSITION_FOLLOWING"
        )
        assert order
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the ended view fits too"
        await page.screenshot(path=str(artifacts / f"batch-completed-{screen}.png"), full_page=True)
        assert errors == []


async def test_a_failing_middle_child_shows_failed_then_skipped_with_reasons_and_resume(
    make_settings: Any, browser: Any, artifacts: Path
) -> None:
    async with page_on(make_settings, browser) as (srv, page):
        async with srv.client() as client:
            batch_id = await start_batch(
                client, "Close", demo("a"), demo("b", items=5, fail_at=2), demo("c")
            )
        await open_batch(page, batch_id)
        outcome = await ended(page)
        rows = await child_rows(page)
        await page.screenshot(path=str(artifacts / "batch-failed.png"), full_page=True)
        assert outcome.startswith("Failed: b failed: Item 2 could not be processed"), outcome
        assert [r["status"] for r in rows] == ["succeeded", "failed", "skipped"]
        assert "failed" in rows[1]["said"] and "skipped" in rows[2]["said"]
        assert "Item 2 could not be processed" in rows[1]["reason"]
        assert rows[2]["reason"] == "skipped: it waits for child 1 (b), which failed"
        assert rows[0]["reason"] == "" and rows[2]["took"] == "—", "c never ran"
        assert await page.inner_text("#batch-counts") == "1 of 3 done · 1 failed · 1 skipped"
        assert await page.get_attribute(BAR, "data-state") == "failed"
        assert await page.is_visible("#batch-progress >> #resume")
        assert await page.is_hidden("#batch-progress >> #cancel")

        # Resume runs b again (told to fail at item 2, it fails again) and never a twice.
        async with srv.client() as client:
            before = (await client.get(f"/api/batches/{batch_id}")).json()["data"]
        await page.click("#batch-progress >> #resume")
        await page.wait_for_function(AGAIN, arg=before["seq"], timeout=30_000)
        again = await page.inner_text(OUTCOME)
        assert again.startswith("Failed: b failed"), again
        async with srv.client() as client:
            after = (await client.get(f"/api/batches/{batch_id}")).json()["data"]
        assert after["seq"] > before["seq"], "it ran again"
        assert after["children"][0]["run_id"] == before["children"][0]["run_id"]
        assert [r["status"] for r in await child_rows(page)] == ["succeeded", "failed", "skipped"]


async def test_cancel_stops_the_running_child_and_skips_the_rest(
    make_settings: Any, browser: Any
) -> None:
    async with page_on(make_settings, browser) as (srv, page):
        async with srv.client() as client:
            batch_id = await start_batch(
                client, "Long", demo("a", items=400, delay_ms=20), demo("b"), demo("c")
            )
        await open_batch(page, batch_id)
        await page.wait_for_function(ROW_MOVING)
        await page.click("#batch-progress >> #cancel")
        outcome = await ended(page)
        rows = await child_rows(page)
    assert outcome == "Cancelled: 0 of 3 succeeded, 2 skipped.", outcome
    assert [r["status"] for r in rows] == ["cancelled", "skipped", "skipped"]
    assert rows[1]["reason"] == "skipped: the batch was cancelled"


async def test_after_a_dropped_connection_the_whole_batch_is_read_again_and_a_reload_reattaches(
    make_settings: Any, browser: Any
) -> None:
    settings = make_settings(progress_interval_s=0.05, retry_ms=400)
    async with run_server(settings) as srv, cuttable(srv.base_url) as proxy:
        page = await signed_in_page(browser, proxy.base_url, srv.keys["acme"])
        snapshots: list[str] = []  # each time the page read the batch as a whole
        page.on("request", lambda r: snapshots.append(r.url) if BATCH_URL.search(r.url) else None)
        async with srv.client() as client:
            children = [demo(n, items=40, delay_ms=80) for n in ("a", "b")]
            batch_id = await start_batch(client, "Cut", *children)
        await open_batch(page, batch_id)
        await page.wait_for_function(ROW_MOVING)  # the page has events from the batch's stream
        read = len(snapshots)

        proxy.cut()
        await page.wait_for_selector("#batch-progress >> #connection:has-text('Reconnecting')")
        proxy.heal()
        # The browser reconnects with Last-Event-ID, or the element polls a moment first
        # (test_live.py tells these apart for a run): either way it reads the whole batch again.
        await page.wait_for_selector("#batch-progress >> #connection", state="hidden")

        async def read_again() -> bool:
            return len(snapshots) > read

        await wait_for(read_again)
        assert await page.get_attribute(BAR, "data-state") == "running", "read again mid-way"

        stored = await page.evaluate("Object.entries(localStorage)")
        assert stored == [["progress-sse.batch", batch_id]], "only the batch's id is kept"
        await page.reload()
        await page.wait_for_selector(f"#batch-id:has-text('{batch_id}')")
        await page.wait_for_selector("#batch-children li.child")
        assert await ended(page) == "Completed: all 2 part(s) succeeded."
        assert [r["status"] for r in await child_rows(page)] == ["succeeded"] * 2
        assert await page.evaluate("Object.entries(localStorage)") == []


async def test_recent_runs_lists_a_batch_as_one_row_that_opens_it(
    make_settings: Any, browser: Any
) -> None:
    async with page_on(make_settings, browser) as (srv, page):
        async with srv.client() as client:
            before = await start_run(client, items=1, delay_ms=0, lock="before")
            batch_id = await start_batch(client, "Pair", demo("a"), demo("b"))
            await collect(client, f"/api/batches/{batch_id}/events", limit_s=30)
            after = await start_run(client, items=1, delay_ms=0, lock="after")
            children = (await client.get(f"/api/batches/{batch_id}")).json()["data"]["children"]
            await collect(client, f"/api/runs/{after}/events", limit_s=30)
        await page.click("#only-failed")
        await page.click("#only-failed")
        await page.wait_for_selector(f"#recent-rows tr[data-batch='{batch_id}']")
        texts = await page.locator("#recent-rows tr").all_inner_texts()
        assert len(texts) == 3, "the batch's children are not listed apart"
        assert [after in texts[0], batch_id in texts[1], before in texts[2]] == [True] * 3
        assert "Pair · 2 parts" in texts[1] and "completed · 100%" in texts[1]
        assert not any(c["run_id"] in "".join(texts) for c in children)

        await page.focus(f"#recent-rows tr[data-batch='{batch_id}']")
        await page.keyboard.press("Enter")  # by keyboard too
        await page.wait_for_selector(f"#batch-id:has-text('{batch_id}')")
        assert await ended(page) == "Completed: all 2 part(s) succeeded."
        assert [r["name"] for r in await child_rows(page)] == ["a", "b"]
        assert await page.is_hidden("#run")

        # A run opened from the list replaces the batch view, and back.
        await page.click(f"#recent-rows tr:has-text('{after}')")
        await page.wait_for_selector(f"#run-id:has-text('{after}')")
        assert await page.is_hidden("#batch")
        await open_batch(page, batch_id)
        assert await page.is_hidden("#run") and len(await child_rows(page)) == 2


async def test_the_month_end_close_is_started_with_its_button(
    make_settings: Any, browser: Any, artifacts: Path
) -> None:
    settings = make_settings(progress_interval_s=0.05)
    await seed_assets(settings, "acme", 120)
    async with run_server(settings) as srv:
        member = await signed_in_page(browser, srv.base_url, srv.keys["acme-member"])
        await member.wait_for_selector("#month")  # the depreciation view is drawn
        assert await member.is_hidden("#close-month"), "closing locks the month: admins only"

        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await choose_period(page, 2026, 11)
        assert await page.is_visible("#close-month") and await page.is_visible("#close-file")
        await page.click("#close-month")
        # The demo register goes back years: the page explains, and offers to close anyway.
        await page.wait_for_selector("#close-anyway:not([hidden])")
        assert "has no posted depreciation document" in await page.inner_text("#alert")
        await page.click("#close-anyway")
        await page.wait_for_selector("#batch:not([hidden])")
        assert await page.is_hidden("#alert")
        assert await ended(page) == "Completed: all 2 part(s) succeeded."
        rows = await child_rows(page)
        assert [(r["name"], r["status"]) for r in rows] == [
            ("Depreciation", "succeeded"), ("Lock the period", "succeeded"),
        ]  # fmt: skip
        assert await page.inner_text("#batch-name") == "Month-end close 2026-11"
        await page.screenshot(path=str(artifacts / "close-completed.png"), full_page=True)

        await page.click("#close-month")  # once more: the month is locked now
        await page.wait_for_selector("#alert:has-text('locked')")
        assert "November 2026 is locked" in await page.inner_text("#alert")

        await choose_period(page, 2026, 12)  # with a file of new assets: imported first
        await page.set_input_files(
            "#close-file",
            files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"x,y\n1,2\n"}],
        )
        await page.click("#close-month")
        await page.wait_for_selector("#alert:has-text('header')")
        assert await page.is_enabled("#close-month"), "a refused file is said, not stuck"
        await page.set_input_files(
            "#close-file",
            files=[{"name": "new.csv", "mimeType": "text/csv",
                    "buffer": csv_text(good_rows(12)).encode()}],
        )  # fmt: skip
        await close_month(page)
        assert await ended(page) == "Completed: all 3 part(s) succeeded."
        rows = await child_rows(page)
        assert [(r["name"], r["status"]) for r in rows] == [
            ("Import assets", "succeeded"), ("Depreciation", "succeeded"),
            ("Lock the period", "succeeded"),
        ]  # fmt: skip
        async with srv.client() as client:
            locked = [p["period"] for p in (await client.get("/api/periods")).json()["data"]]
        assert sorted(locked) == ["2026-11", "2026-12"]
