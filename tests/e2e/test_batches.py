"""Batches on the page, in Chromium: a row per child above the combined bar, live to the end
on a desktop and a 390 x 844 phone; a failed child and the ones skipped after it, each with
its reason; Cancel and Resume; a dropped connection and a reload; the recent list with a
batch as one row; and the month-end close started with its button next to the month picker
(issue 18).

Then what a careful user runs into: leaving a batch while it loads, a late answer racing the
events, live updates back after polling, a resumed batch after a reload, a close of a month
whose close already runs, reasons as they happen, long names, double clicks, a browser whose
clock is off, and the keyboard. Each delays, refuses or cuts a request on loopback (Playwright
routes, the cuttable proxy), bounded in time.

Expected outcomes come from the scenario (which child was told to fail), not from the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from progress_sse.accounting.seed import seed_assets
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.progress import StepSpec
from tests.e2e.pages import (
    NO_SIDEWAYS_SCROLL,
    VIEWPORTS,
    child_rows,
    choose_period,
    close_month,
    open_batch,
    open_run,
    signed_in_page,
)
from tests.integration.test_asset_import import csv_text, good_rows
from tests.proxy import CuttableProxy, cuttable
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


async def start_batch(
    client: httpx.AsyncClient, name: str, *children: dict[str, Any], parallel: bool = False
) -> str:
    body = {"name": name, "parallel": parallel, "children": list(children)}
    response = await client.post("/api/batches", json=body)
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    assert isinstance(batch_id, str)
    return batch_id


class PauseParams(BaseModel):
    seconds: float = 10


async def pause(ctx: Any, params: PauseParams) -> dict[str, Any]:
    """Take its time, reporting progress, and never write: on SQLite, where runs take turns
    writing, it runs beside a demo child instead of before or after it."""
    ticks = round(params.seconds * 10)
    async with ctx.step("wait", total=ticks, message="Waiting"):
        for tick in range(1, ticks + 1):
            await asyncio.sleep(0.1)
            await ctx.progress(processed=tick)
    return {}


PAUSE = JobKind(name="pause", params=PauseParams, run=pause, steps=(StepSpec("wait", 0, 100),))


@contextlib.asynccontextmanager
async def page_on(
    make_settings: Any, browser: Any, *, jobs: list[JobKind] | None = None, **context: Any
) -> AsyncIterator[tuple[Server, Any]]:
    async with run_server(make_settings(progress_interval_s=0.05), jobs=jobs or []) as srv:
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


# -- what a careful user runs into --------------------------------------------------------

TRACK_STREAMS = """(() => { const Real = window.EventSource; window.__streams = [];
  window.EventSource = class extends Real {
    constructor(...args) { super(...args); window.__streams.push(this); } }; })();"""
OPEN_STREAMS = "window.__streams.filter(s => s.readyState !== 2).map(s => new URL(s.url).pathname)"
ROWS_SAY = """([first, second]) => {
  const rows = [...document.querySelectorAll('#batch-children li.child')];
  const said = rows.map(li => li.dataset.status);
  return said.length === 2 && said[0] === first && said[1] === second; }"""
RUNNING = "document.getElementById('batch-progress').status === 'running'"
LIVE_UNAVAILABLE = "#batch-progress >> #connection:has-text('Live updates unavailable')"


def long_child(name: str = "a") -> dict[str, Any]:
    """A child that runs about 16 s: what a test does to it happens while it runs."""
    return demo(name, items=800, delay_ms=20)


def batch_only(batch_id: str) -> Any:
    """Playwright's URL predicate for the batch as a whole (`GET api/batches/{id}`)."""
    return lambda url: url.split("?")[0].endswith(f"/api/batches/{batch_id}")


@contextlib.asynccontextmanager
async def cancelled_at_the_end(srv: Server, batch_id: str) -> AsyncIterator[str]:
    """The batch, cancelled when the test is done with it, passed or failed (a server stops
    quickly only once its runs have)."""
    try:
        yield batch_id
    finally:
        async with srv.client() as client:
            await client.post(f"/api/batches/{batch_id}/cancel")

            async def stopped() -> bool:
                batch = (await client.get(f"/api/batches/{batch_id}")).json()["data"]
                return batch["status"] != "running"

            await wait_for(stopped)


@contextlib.asynccontextmanager
async def running_batch(
    srv: Server, name: str, *children: dict[str, Any], parallel: bool = False
) -> AsyncIterator[str]:
    """A batch started over HTTP, cancelled at the end of the test."""
    async with srv.client() as client:
        batch_id = await start_batch(client, name, *children, parallel=parallel)
    async with cancelled_at_the_end(srv, batch_id):
        yield batch_id


async def first_child_succeeded(srv: Server, batch_id: str) -> bool:
    async with srv.client() as client:
        batch = (await client.get(f"/api/batches/{batch_id}")).json()["data"]
    return bool(batch["children"][0]["status"] == "succeeded")


async def test_a_batch_left_while_it_loads_opens_no_stream(
    make_settings: Any, browser: Any
) -> None:
    async with (
        page_on(make_settings, browser, init_script=TRACK_STREAMS) as (srv, page),
        running_batch(srv, "Long", long_child(), demo("b")) as batch_id,
    ):
        async with srv.client() as client:
            run_id = await start_run(client, items=800, delay_ms=20, lock="solo")
        answered = asyncio.Event()

        async def slowly(route: Any) -> None:  # a slow network: the snapshot takes a second
            await asyncio.sleep(1)
            await route.continue_()
            answered.set()

        await page.route(batch_only(batch_id), slowly)
        try:
            await page.click("#only-failed")
            await page.click("#only-failed")
            await page.click(f"#recent-rows tr[data-batch='{batch_id}']")
            await page.click(f"#recent-rows tr:has-text('{run_id}')")  # before the batch loaded
            await page.wait_for_selector(f"#run-id:has-text('{run_id}')")
            await asyncio.wait_for(answered.wait(), 10)
            await asyncio.sleep(0.5)  # time to open a stream, if the batch's element still would
            streams = await page.evaluate(OPEN_STREAMS)
        finally:
            async with srv.client() as client:
                await client.post(f"/api/runs/{run_id}/cancel")
    assert streams == [f"/api/runs/{run_id}/events"], "the batch left the page, and its stream too"


async def test_an_answer_older_than_the_events_never_draws_over_them(
    make_settings: Any, browser: Any
) -> None:
    settings = make_settings(progress_interval_s=0.05, retry_ms=400)
    gate = asyncio.Event()  # r1 ends when the test says: after the re-read was answered
    r1 = {"name": "r1", "kind": "gated", "params": {}}
    r2 = demo("r2", items=400, delay_ms=30)  # 12 s
    async with run_server(settings, jobs=[gated(gate)]) as srv, cuttable(srv.base_url) as proxy:
        page = await signed_in_page(browser, proxy.base_url, srv.keys["acme"])
        async with running_batch(srv, "Race", r1, r2) as batch_id:
            rows = await late_answer_drawn(page, proxy, batch_id, gate)
    assert rows == ["succeeded", "running"], "r1 ended; the late answer says it runs"


class NoParams(BaseModel):
    pass


def gated(gate: asyncio.Event) -> JobKind:
    """Half way at once, then done when `gate` opens: a child that ends when the test says."""

    async def run(ctx: Any, _params: NoParams) -> dict[str, Any]:
        async with ctx.step("wait", message="Waiting for the gate"):
            await ctx.progress(fraction=0.5)
            await asyncio.wait_for(gate.wait(), 60)
        return {}

    return JobKind(name="gated", params=NoParams, run=run, steps=(StepSpec("wait", 0, 100),))


async def late_answer_drawn(
    page: Any, proxy: CuttableProxy, batch_id: str, gate: asyncio.Event
) -> list[str]:
    """The rows once a re-read of the batch, read while r1 ran, arrived after r1 ended."""
    asked = [0]
    held: list[str] = []  # r1's status in the answer held back, then "delivered"
    release = asyncio.Event()

    async def late(route: Any) -> None:  # the re-read after the reconnect arrives late
        asked[0] += 1
        if asked[0] != 2:
            await route.continue_()
            return
        answer = await route.fetch()
        held.append((await answer.json())["data"]["children"][0]["status"])
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(release.wait(), 20)
        await route.fulfill(response=answer)
        held.append("delivered")

    async def read() -> bool:
        return len(held) == 1

    async def delivered() -> bool:
        return "delivered" in held

    await page.route(batch_only(batch_id), late)
    await open_batch(page, batch_id)
    await page.wait_for_function(ROW_MOVING)
    proxy.cut()
    await page.wait_for_selector("#batch-progress >> #connection:has-text('Reconnecting')")
    proxy.heal()
    await wait_for(read)  # the re-read was read on the server (r1 still running)
    gate.set()  # now r1 ends
    await page.wait_for_function(ROWS_SAY, arg=["succeeded", "running"], timeout=15_000)
    release.set()  # the events moved on: now the older answer arrives
    await wait_for(delivered)
    await asyncio.sleep(1)  # time to draw it, if the page would
    assert held[0] == "running", "the answer held back is older than the events after it"
    return [r["status"] for r in await child_rows(page)]


async def test_live_updates_back_after_polling_read_the_whole_batch_again(
    make_settings: Any, browser: Any
) -> None:
    first, long = demo("first", items=60, delay_ms=50), demo("long", items=400, delay_ms=30)
    async with (
        page_on(make_settings, browser) as (srv, page),
        running_batch(srv, "Gap", first, long) as batch_id,
    ):
        opened = [0]

        async def refused_then_late(route: Any) -> None:
            opened[0] += 1
            if opened[0] == 1:  # refused: the element polls, then tries live updates again
                await route.fulfill(status=503, body="no")
                return
            if opened[0] == 2:  # ... and that stream opens only after `first` has ended
                await wait_for(lambda: first_child_succeeded(srv, batch_id), limit_s=20)
            await route.continue_()

        stream = f"/api/batches/{batch_id}/events"
        await page.route(lambda url: url.endswith(stream), refused_then_late)
        await open_batch(page, batch_id)
        await page.wait_for_selector(LIVE_UNAVAILABLE)
        assert (await child_rows(page))[0]["status"] == "running"
        # The stream's events name only the child that moved (`long`): `first` ended unseen.
        await page.wait_for_function(ROWS_SAY, arg=["succeeded", "running"], timeout=10_000)
        assert opened[0] == 2


async def test_a_resumed_batch_is_followed_again_after_a_reload_and_on_a_fresh_page(
    make_settings: Any, browser: Any
) -> None:
    async with (
        page_on(make_settings, browser) as (srv, page),
        running_batch(srv, "Again", long_child(), demo("b")) as batch_id,
    ):
        await open_batch(page, batch_id)
        await page.wait_for_function(ROW_MOVING)
        await page.click("#batch-progress >> #cancel")
        assert (await ended(page)).startswith("Cancelled"), "then resumed: it runs again"
        assert await page.evaluate("Object.entries(localStorage)") == []
        await page.click("#batch-progress >> #resume")
        await page.wait_for_function(RUNNING)
        stored = await page.evaluate("Object.entries(localStorage)")
        assert stored == [["progress-sse.batch", batch_id]], "a reload follows it again"

        await page.reload()
        await page.wait_for_selector(f"#batch-id:has-text('{batch_id}')", timeout=10_000)
        assert await page.is_hidden("#run"), "never its child as a run of its own"
        # A page that never saw it: the active run is the batch's child, so the batch is shown.
        fresh = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await fresh.wait_for_selector(f"#batch-id:has-text('{batch_id}')", timeout=10_000)
        assert await fresh.is_hidden("#run")
        await fresh.wait_for_selector("#batch-children li.child")


async def test_closing_a_month_whose_close_runs_shows_that_close(
    make_settings: Any, browser: Any
) -> None:
    settings = make_settings(progress_interval_s=0.05)
    await seed_assets(settings, "acme", 60)
    async with run_server(settings) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        register = csv_text([row.replace("A-", "Z-", 1) for row in good_rows(999)]).encode()
        async with srv.client() as client:  # a close of May 2027 started elsewhere, slow to import
            started = await client.post(
                "/api/close/2027/5?allow_earlier_unposted=true&chunk_size=1&filename=new.csv",
                content=register, headers={"Content-Type": "text/csv"},
            )  # fmt: skip
            other = await start_run(client, items=1, delay_ms=0, lock="other")
        assert started.status_code == 202, started.text
        async with cancelled_at_the_end(srv, started.json()["id"]) as batch_id:
            await choose_period(page, 2027, 5)
            await page.click("#close-month")
            await page.wait_for_selector("#close-anyway:not([hidden]), #alert:has-text('running')")
            if await page.is_visible("#close-anyway"):  # the register goes back years: said first
                await page.click("#close-anyway")
            await page.wait_for_selector("#alert:has-text('already running')", timeout=10_000)
            said = await page.inner_text("#alert")
            assert said == "Work on May 2027 is already running; showing it."
            assert await page.inner_text("#batch-id") == batch_id
            await page.wait_for_selector("#batch-children li.child")

            await open_run(page, other)  # another run opened: what was said is gone
            assert await page.is_hidden("#alert")
        # Cancelled: an admin may resume it, a member may not (it locks a month).
        await open_batch(page, batch_id)
        await ended(page)
        assert await page.is_visible("#batch-progress >> #resume")
        member = await signed_in_page(browser, srv.base_url, srv.keys["acme-member"])
        await open_batch(member, batch_id)
        assert (await ended(member)).startswith("Cancelled")
        assert await member.is_hidden("#batch-progress >> #resume"), "the server would refuse it"


async def test_a_failed_child_and_the_ones_it_skips_say_why_while_the_batch_runs(
    make_settings: Any, browser: Any
) -> None:
    def pause_child(name: str, seconds: float) -> dict[str, Any]:
        return {"name": name, "kind": "pause", "params": {"seconds": seconds}}

    children = [
        pause_child("slow", 15),
        pause_child("gate", 2),  # the page is open before `bad` starts
        {**demo("bad", items=40, delay_ms=60, fail_at=25), "after": ["gate"]},
        {**demo("after bad"), "after": ["bad"]},
    ]
    said = """() => { const rows = [...document.querySelectorAll('#batch-children li.child')];
      const reason = (li) => (li.querySelector('.child-reason') || {}).textContent;
      return rows.length === 4 && reason(rows[2]) && reason(rows[3])
        && document.getElementById('batch-progress').status === 'running'; }"""
    async with (
        page_on(make_settings, browser, jobs=[PAUSE]) as (srv, page),
        running_batch(srv, "Why", *children, parallel=True) as batch_id,
    ):
        await open_batch(page, batch_id)
        assert (await child_rows(page))[2]["status"] == "pending", "the page sees it start"
        await page.wait_for_function(said, timeout=10_000)
        rows = await child_rows(page)
    assert [r["status"] for r in rows] == ["running", "succeeded", "failed", "skipped"]
    assert "Item 25 could not be processed" in rows[2]["reason"]
    assert rows[3]["reason"] == "skipped: it waits for child 2 (bad), which failed"


LONG = "Quarterly_reconciliation_of_the_northern_subsidiary_ledgers_" + "X" * 40  # 100, no space


async def test_names_of_100_letters_without_a_space_never_scroll_sideways(
    make_settings: Any, browser: Any
) -> None:
    assert len(LONG) == 100
    async with page_on(make_settings, browser, viewport=VIEWPORTS["phone"]) as (srv, page):
        async with srv.client() as client:
            batch_id = await start_batch(
                client, LONG, demo(LONG, items=5, fail_at=2, lock="p1"), demo("B" * 100, lock="p2")
            )
        await open_batch(page, batch_id)
        assert (await ended(page)).startswith(f"Failed: {LONG} failed")
        for width in (1280, 641, 390, 320):
            await page.set_viewport_size({"width": width, "height": 800})
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), f"{width} px wide"


async def test_a_double_click_sends_one_cancel_and_one_resume(
    make_settings: Any, browser: Any
) -> None:
    async with (
        page_on(make_settings, browser) as (srv, page),
        running_batch(srv, "Twice", long_child(), demo("b")) as batch_id,
    ):
        posts: list[str] = []
        page.on(
            "request",
            lambda r: posts.append(r.url.rsplit("/", 1)[1]) if r.method == "POST" else None,
        )
        await open_batch(page, batch_id)
        await page.wait_for_function(ROW_MOVING)
        await page.dblclick("#batch-progress >> #cancel")
        assert (await ended(page)).startswith("Cancelled")
        await page.dblclick("#batch-progress >> #resume")
        await page.wait_for_function(RUNNING)
        await asyncio.sleep(0.5)  # a second request would have been sent by now
        assert posts == ["cancel", "resume"]
        assert await page.is_hidden("#alert"), "no refusal of a second request to explain"


# The browser's clock is ten minutes slow: a child's time must come from the server's clock.
SLOW_CLOCK = """(() => { const Real = Date, skew = -10 * 60 * 1000;
  globalThis.Date = class extends Real {
    constructor(...args) { if (args.length) super(...args); else super(Real.now() + skew); }
    static now() { return Real.now() + skew; } }; })();"""
# took() and countsText() of the page's batch-view module, as the page loaded it.
SAID = """async () => {
  const app = document.querySelector('script[src*="/app."]').src;
  const imports = (await (await fetch(app)).text());
  const name = imports.match(/from "\\.\\/(batch-view\\.[0-9a-f]+\\.js)"/)[1];
  const { took, countsText } = await import(new URL(name, app).href);
  return [took({ duration_s: 179.6 }), took({ duration_s: 119.96 }), took({ duration_s: 1.25 }),
    countsText({ succeeded: 1, failed: 0, cancelled: 0, skipped: 0, running: 1, pending: 2 })]; }"""
RUNNING_FOR_A_WHILE = """() => {
  const li = document.querySelector('#batch-children li.child[data-status="running"]');
  const seconds = li ? parseFloat(li.querySelector('.child-took').textContent) : 0;
  return seconds >= 1.5 && seconds < 60; }"""


async def test_times_and_counts_are_said_right_even_when_the_browsers_clock_is_off(
    make_settings: Any, browser: Any
) -> None:
    children = demo("a", items=200, delay_ms=30), demo("b"), demo("c")
    async with (
        page_on(make_settings, browser, init_script=SLOW_CLOCK) as (srv, page),
        running_batch(srv, "Clock", *children) as batch_id,
    ):
        said = await page.evaluate(SAID)
        assert said == ["3 min 0 s", "2 min 0 s", "1.3 s", "1 of 4 done · 1 running · 2 waiting"]
        await open_batch(page, batch_id)
        await page.wait_for_function(ROW_MOVING)
        assert await page.inner_text("#batch-counts") == "0 of 3 done · 1 running · 2 waiting"
        await page.wait_for_function(RUNNING_FOR_A_WHILE, timeout=10_000)  # counting up


FOCUSED = """() => { const host = document.activeElement;
  const inner = host && host.shadowRoot ? host.shadowRoot.activeElement : null;
  return [host ? host.id : '', inner ? inner.id : '']; }"""
ANNOUNCED = "document.getElementById('batch-progress').shadowRoot.getElementById('announce')"


async def test_rows_open_like_buttons_and_the_focus_follows(
    make_settings: Any, browser: Any
) -> None:
    async with (
        page_on(make_settings, browser) as (srv, page),
        running_batch(srv, "Keys", long_child(), demo("b")) as batch_id,
    ):
        await page.click("#only-failed")
        await page.click("#only-failed")
        row = f"#recent-rows tr[data-batch='{batch_id}']"
        assert await page.get_attribute(row, "role") == "button"
        await page.focus(row)
        await page.keyboard.press(" ")  # Space opens it, as a button
        await page.wait_for_selector(f"#batch-id:has-text('{batch_id}')")
        assert await page.evaluate(FOCUSED) == ["batch-title", ""], "the focus moves to the batch"
        assert await page.get_attribute(BAR, "aria-label") == "Batch progress"
        await page.wait_for_function(ROW_MOVING)
        await page.click("#batch-progress >> #cancel")  # it hides itself when the batch ends
        await ended(page)
        assert await page.evaluate(FOCUSED) == ["batch-progress", "bar"], "not lost with it"
        assert await page.evaluate(f"{ANNOUNCED}.textContent") == "Batch cancelled"
        assert await page.inner_text("#announce") == "", "said once, by the element"
