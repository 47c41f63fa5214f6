"""The page as a user in Jakarta sees it, on a desktop and on a 390 x 844 phone: where a key
comes from, a run headed by what it is, amounts in Rupiah and dates in the browser's locale,
a recent list that fits the screen, a cancel shown once, and no error in the console."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from progress_sse.accounting.seed import seed_assets
from tests.e2e.pages import NO_SIDEWAYS_SCROLL, VIEWPORTS, start_month, step_statuses
from tests.support import run_server, start_run


@pytest.mark.parametrize("screen", sorted(VIEWPORTS))
async def test_the_page_in_jakarta(
    make_settings: Any, browser: Any, artifacts: Path, screen: str
) -> None:
    settings = make_settings(progress_interval_s=0.05)
    await seed_assets(settings, "acme", 120)
    async with run_server(settings) as srv:
        context = await browser.new_context(
            viewport=VIEWPORTS[screen], locale="id-ID", timezone_id="Asia/Jakarta"
        )
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        crashes: list[str] = []
        page.on("pageerror", lambda exc: crashes.append(str(exc)))
        dialogs: list[str] = []

        async def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await page.goto(srv.base_url + "/")
        await page.wait_for_selector("#sign-in:not([hidden])")
        await page.wait_for_timeout(300)  # the session probe has answered
        assert errors == [], "a signed-out visitor is normal: nothing in the console"
        assert "keys create" in await page.inner_text("#sign-in"), "where a key comes from"
        await page.screenshot(path=str(artifacts / f"jakarta-sign-in-{screen}.png"))

        await page.fill("#api-key", srv.keys["acme"])
        await page.click("#sign-in-form button")
        await page.wait_for_selector("#start:not([hidden])")
        await start_month(page, 2026, 11)
        await page.wait_for_selector("#outcome:has-text('Completed.')", timeout=30_000)
        assert await page.inner_text("#run-what") == "Depreciation · November 2026"
        summary = await page.inner_text("#summary")
        assert re.search(r"total Rp\s\d{1,3}(\.\d{3})*,\d\d\.", summary), summary

        async with srv.client() as client:  # a colleague's runs, so the list has several
            for lock in ("a", "b", "c"):
                await start_run(client, items=2, delay_ms=0, lock=lock)
            stopping = await start_run(client, items=400, delay_ms=25, lock="d")
        await page.click("#only-failed")
        await page.click("#only-failed")
        await page.click(f"#recent-rows tr:has-text('{stopping}')")
        await page.click("#cancel")
        await page.wait_for_selector("#outcome:has-text('Cancelled; nothing was changed.')")
        statuses = await step_statuses(page)
        assert "cancelled" in statuses and "failed" not in statuses, statuses
        assert await page.is_hidden("#summary"), "cancelled is said once"

        rows = page.locator("#recent-rows tr")
        assert await rows.count() >= 5
        texts = await rows.all_inner_texts()
        assert any("Depreciation · November 2026" in t for t in texts), texts
        started = await page.locator("#recent-rows td.when").first.inner_text()
        assert re.fullmatch(r"\d{1,2} \w{3} \d{4}.*\d\d\.\d\d", started), f"day first: {started}"
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the list fits the screen"
        await page.screenshot(path=str(artifacts / f"jakarta-runs-{screen}.png"), full_page=True)

        await page.click("#reset-tenant")
        await page.wait_for_timeout(300)
        await context.close()
    assert any('tenant "acme"' in d for d in dialogs), dialogs
    assert crashes == [], "no script error all along"
