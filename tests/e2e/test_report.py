"""The run report in Chromium: opened from the run view's link, drawn under its own strict
Content-Security-Policy, printed to an A4 PDF, and read on a desktop and a 390 x 844 phone.
The screenshots and the PDF are kept in test-artifacts/ to be looked at."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from progress_sse.accounting.seed import seed_assets
from tests.e2e.pages import NO_SIDEWAYS_SCROLL, VIEWPORTS, signed_in_page, start_month
from tests.integration.test_report import HOSTILE, KINDS
from tests.support import collect, run_server, run_status, start_run

# A page object of the PDF (not the /Pages tree that holds them).
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


async def test_the_report_opens_from_the_page_prints_on_a4_and_fits_a_phone(
    make_settings: Any, browser: Any, artifacts: Path
) -> None:
    settings = make_settings(progress_interval_s=0.05)
    await seed_assets(settings, "acme", 120)
    async with run_server(settings) as srv:
        page = await signed_in_page(
            browser, srv.base_url, srv.keys["acme"], viewport=VIEWPORTS["desktop"]
        )
        problems: list[str] = []  # on the report's page (the run view's 409 is its own)
        page.context.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" and m.page != page else None,
        )
        page.context.on("weberror", lambda e: problems.append(str(e.error)))
        await start_month(page, 2026, 11)
        await page.wait_for_selector("#outcome:has-text('Completed.')", timeout=30_000)
        run_id = await page.inner_text("#run-id")
        async with srv.client() as client:
            result = (await run_status(client, run_id))["result"]

        link = page.locator("#run-report")
        assert await link.is_visible() and await link.inner_text() == "Report"
        async with page.context.expect_page() as opened:
            await link.click()
        report = await opened.value
        await report.wait_for_load_state()
        assert report.url == f"{srv.base_url}/api/runs/{run_id}/report"
        text = await report.inner_text("body")
        expected = (
            result["document_no"], f"{result['entries']:,}", "Totals per tax group",
            "Skipped assets by reason", "Journal of 2026-11 (CSV)", "Run log (CSV)",
        )  # fmt: skip
        assert [said for said in expected if said not in text] == []
        # the inline stylesheet applied: its hash is the one style the policy allows
        assert await report.evaluate("getComputedStyle(document.body).maxWidth") == "960px"
        await report.screenshot(path=str(artifacts / "report-desktop.png"), full_page=True)

        pdf = await report.pdf(format="A4", print_background=True)
        (artifacts / "report.pdf").write_bytes(pdf)
        assert pdf.startswith(b"%PDF-")
        assert 1 <= len(PDF_PAGE.findall(pdf)) <= 4, "a month's report is a few pages of A4"
        await report.emulate_media(media="print")
        assert await report.is_hidden(".screen-only"), "no screen hints on paper"
        assert "Print it" not in await report.inner_text("body")
        await report.emulate_media(media="screen")

        await report.set_viewport_size(VIEWPORTS["phone"])
        assert await report.evaluate(NO_SIDEWAYS_SCROLL), "the report fits a 390 px phone"
        assert await report.is_hidden("#steps thead"), "steps as cards on a phone"
        await report.screenshot(path=str(artifacts / "report-phone.png"), full_page=True)
        await page.context.close()
    assert problems == [], "no script error and no policy violation"


async def test_hostile_run_data_stays_text_and_fits_a_phone(
    make_settings: Any, browser: Any, artifacts: Path
) -> None:
    text = HOSTILE + "W" * 3_000 + " " + "<b>bold?</b> " * 50
    async with run_server(make_settings(), jobs=KINDS) as srv:
        async with srv.client() as client:
            failed = await start_run(client, "hostile", text=text, fail=True)
            done = await start_run(client, "hostile_report", text=text)
            for run_id in (failed, done):
                await collect(client, f"/api/runs/{run_id}/events")
        page = await signed_in_page(
            browser, srv.base_url, srv.keys["acme"], viewport=VIEWPORTS["phone"]
        )
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.message))  # an alert() would be a script
        for name, run_id in (("failed", failed), ("completed", done)):
            await page.goto(f"{srv.base_url}/api/runs/{run_id}/report")  # the session cookie
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), f"{name}: long text wraps"
            assert await page.locator("b, img, script").count() == 0, "markup stays text"
            assert HOSTILE in await page.inner_text("body")
            await page.screenshot(path=str(artifacts / f"report-hostile-{name}-phone.png"))
        await page.context.close()
    assert dialogs == []
