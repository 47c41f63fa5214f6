"""The page under trouble: cancel, a dropped connection, reload, a silent worker, no EventSource."""

from __future__ import annotations

import re
from typing import Any

import pytest

from progress_sse.accounting.seed import seed_assets
from tests.e2e.pages import open_run, percent, signed_in_page, start_month, step_statuses
from tests.proxy import CuttableProxy, cuttable
from tests.support import demo_rows, in_finalize, run_server, run_status, start_run, wait_for

PERCENT_OVER = "n => document.querySelector('progress-run').percentage > n"
SNAPSHOT_URL = re.compile(r"/api/runs/[^/?]+$")
EVENTS_URL = re.compile(r"/api/runs/[^/?]+/events")


def milestones(log: list[dict[str, Any]]) -> list[int]:
    """Seqs of the events a watcher must never miss: step changes and the terminal event."""
    seqs: list[int] = []
    previous: tuple[str, str] | None = None
    for entry in log:
        step = entry["data"].get("step")
        key = (step["name"], step["status"]) if step else None
        if entry["event"] or (key is not None and key != previous):
            seqs.append(entry["seq"])
        previous = key or previous
    return seqs


async def streamed(proxy: CuttableProxy) -> bool:
    return any(stream.event_ids() for stream in proxy.event_streams())


async def test_cancel_stops_the_run_and_nothing_is_written(
    make_settings: Any, browser: Any
) -> None:
    settings = make_settings(progress_interval_s=0.05)
    async with run_server(settings) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        async with srv.client() as client:
            run_id = await start_run(client, items=400, delay_ms=25)
        await open_run(page, run_id)
        await page.wait_for_function(PERCENT_OVER, arg=40)
        assert not await page.is_enabled("#start-button"), "no second start while a run is active"
        await page.click("#cancel")
        await page.wait_for_selector("#outcome:not([hidden])")
        assert await page.inner_text("#outcome") == "Cancelled; nothing was changed."
        assert await page.inner_text("#message") == "", "said once"
        assert await page.get_attribute("#bar", "data-state") == "cancelled"
        assert await page.is_hidden("#cancel")
        assert await page.is_hidden("#resume"), "demo runs are not resumable"
        async with srv.client() as client:
            state = await run_status(client, run_id)
    assert state["status"] == "cancelled" and state["processed"] < 400
    assert await demo_rows(settings, run_id) == 0


async def test_a_dropped_connection_recovers_without_losing_a_step(
    make_settings: Any, browser: Any
) -> None:
    settings = make_settings(progress_interval_s=0.05, retry_ms=400)
    async with run_server(settings) as srv, cuttable(srv.base_url) as proxy:
        page = await signed_in_page(browser, proxy.base_url, srv.keys["acme"])
        async with srv.client() as client:
            run_id = await start_run(client, items=60, delay_ms=80)
        await open_run(page, run_id)
        await page.wait_for_function(PERCENT_OVER, arg=45)
        await wait_for(lambda: streamed(proxy))  # the page has events from its stream

        proxy.cut()  # the network drops every connection, and stays down a moment
        await page.wait_for_selector("#connection:has-text('Reconnecting')")
        await page.wait_for_timeout(800)
        proxy.heal()

        await page.wait_for_selector("#outcome:not([hidden])", timeout=30_000)
        assert await page.get_attribute("#bar", "data-state") == "completed"
        assert await percent(page) == 100
        assert await step_statuses(page) == ["completed"] * 5
        assert await page.is_hidden("#connection")
        async with srv.client() as client:
            log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]

    first, *later = proxy.event_streams()
    before_cut = first.event_ids()
    reconnects = [s for s in later if s.last_event_id is not None]
    assert reconnects, "the browser reconnected by itself, not by polling"
    assert reconnects[0].last_event_id == str(before_cut[-1]), "it resumed where it stopped"
    delivered = {i for stream in proxy.event_streams() for i in stream.event_ids()}
    owed = [seq for seq in milestones(log) if seq > before_cut[0]]
    assert owed and set(owed) <= delivered, "every step change after attaching reached the page"


async def test_a_reload_and_a_second_tab_reattach_to_the_running_run(
    make_settings: Any, browser: Any
) -> None:
    async with run_server(make_settings(progress_interval_s=0.05)) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        async with srv.client() as client:
            run_id = await start_run(client, items=60, delay_ms=80)
        await open_run(page, run_id)
        await page.wait_for_function(PERCENT_OVER, arg=40)
        stored = await page.evaluate("Object.entries(localStorage)")
        assert stored == [["progress-sse.run", run_id]], "only the run id is kept in the browser"

        await page.reload()
        await page.wait_for_selector(f"#run-id:has-text('{run_id}')")
        assert await page.get_attribute("#bar", "data-state") == "running"
        at_reload = await percent(page)
        assert at_reload >= 40, "the reloaded page shows the server's progress, not zero"
        tab = await page.context.new_page()
        await tab.goto(srv.base_url + "/")
        await tab.wait_for_selector(f"#run-id:has-text('{run_id}')")

        for view in (page, tab):
            await view.wait_for_selector("#outcome:not([hidden])", timeout=30_000)
            assert await view.get_attribute("#bar", "data-state") == "completed"
            assert await percent(view) == 100
        assert await page.evaluate("Object.keys(localStorage)") == []


async def test_a_silent_worker_shows_the_stale_badge_then_the_stale_failure(
    make_settings: Any, browser: Any
) -> None:
    # The job keeps its transaction open in `finalize` and writes no heartbeat (30 s apart),
    # so its heartbeat goes stale after 2 s; the browser's status reads are cut off meanwhile.
    settings = make_settings(
        stale_after_s=2, heartbeat_interval_s=30, sweep_interval_s=3600, shutdown_grace_s=0
    )
    async with run_server(settings) as srv:
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await page.route(SNAPSHOT_URL, lambda route: route.abort())
        async with srv.client() as client:
            run_id = await start_run(client, items=3, delay_ms=0, hold_ms=20_000)
            await open_run(page, run_id)
            await wait_for(lambda: in_finalize(client, run_id))
            await page.wait_for_selector("#stale:not([hidden])", timeout=10_000)
            assert re.fullmatch(r"No update for \d+ seconds", await page.inner_text("#stale"))
            listed = (await client.get("/api/runs")).json()["data"][0]
            assert listed["id"] == run_id and listed["stale"] is True, "the server agrees"

            await page.unroute(SNAPSHOT_URL)  # the page can ask the server again
            await page.wait_for_selector("#outcome:not([hidden])", timeout=15_000)
            assert "the worker stopped responding" in await page.inner_text("#outcome")
            assert await page.get_attribute("#bar", "data-state") == "failed"
            assert await page.is_hidden("#stale")
            state = await run_status(client, run_id)
    assert state["status"] == "failed" and state["error_code"] == "stale"


@pytest.mark.parametrize("trouble", ["no EventSource", "stream refused"])
async def test_without_live_updates_the_page_polls_until_the_end_and_then_stops(
    make_settings: Any, browser: Any, trouble: str
) -> None:
    async with run_server(make_settings(progress_interval_s=0.05)) as srv:
        script = "delete window.EventSource;" if trouble == "no EventSource" else ""
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"], init_script=script)
        async with srv.client() as client:
            run_id = await start_run(client, items=30, delay_ms=100)
        if trouble == "stream refused":  # a proxy that will not pass event streams
            await page.route(EVENTS_URL, lambda route: route.fulfill(status=503, body="no"))
        polls: list[str] = []
        page.on("request", lambda r: polls.append(r.url) if r.url.endswith(run_id) else None)
        await open_run(page, run_id)
        await page.wait_for_selector("#connection:has-text('checking periodically')")
        await page.wait_for_selector("#outcome:not([hidden])", timeout=30_000)
        assert await page.get_attribute("#bar", "data-state") == "completed"
        assert await percent(page) == 100
        assert await page.is_hidden("#connection")
        after_end = len(polls)
        await page.wait_for_timeout(3000)
    assert after_end >= 2, "it polled while the run was going"
    assert len(polls) == after_end, "no polling after the run ended"


async def test_an_admin_resets_the_tenant_and_resumes_the_failed_month(
    make_settings: Any, browser: Any
) -> None:
    settings = make_settings(run_jobs=False)  # runs stay queued: no worker in this test
    await seed_assets(settings, "acme", 10)
    async with run_server(settings) as srv:
        member = await signed_in_page(browser, srv.base_url, srv.keys["acme-member"])
        assert await member.is_hidden("#admin"), "members do not see the reset action"
        page = await signed_in_page(browser, srv.base_url, srv.keys["acme"])
        await start_month(page, 2026, 9)
        run_id = await page.inner_text("#run-id")

        await page.click("#reset-tenant")  # its confirmation is accepted
        await page.wait_for_selector("#outcome:not([hidden])")
        assert await page.get_attribute("#bar", "data-state") == "failed"
        assert await page.is_visible("#resume"), "a failed depreciation run can be resumed"

        await page.click("#resume")
        await page.wait_for_selector("#resume[hidden]", state="attached")
        assert await page.is_hidden("#summary") and await page.is_hidden("#outcome")
        await page.wait_for_selector("#message:has-text('Resumed; waiting for a worker')")
        assert not await page.is_enabled("#start-button"), "the resumed run is the active one"
        async with srv.client() as client:
            state = await run_status(client, run_id)
    assert state["status"] == "pending" and state["error"] is None
