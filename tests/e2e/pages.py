"""Steps a person takes on the page, shared by the browser tests."""

from __future__ import annotations

from typing import Any

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
RUN_ID_SHOWN = "document.getElementById('run-id').textContent !== ''"
NEW_BATCH_OR_ANYWAY = """shown => {
  const $ = (id) => document.getElementById(id);
  return !$('close-anyway').hidden
    || (!$('batch').hidden && $('batch-id').textContent !== shown); }"""


async def signed_in_page(
    browser: Any, base_url: str, key: str, *, init_script: str = "", **context_options: Any
) -> Any:
    """A new browser context (`viewport=...` and the like), signed in with `key` (every dialog
    is accepted)."""
    context = await browser.new_context(**context_options)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmation naming the period
    await page.goto(base_url + "/")
    await page.fill("#api-key", key)
    await page.click("#sign-in-form button")
    await page.wait_for_selector("#start:not([hidden])")
    return page


async def choose_period(page: Any, year: int, month: int) -> None:
    await page.select_option("#month", str(month))
    await page.fill("#year", str(year))


async def open_run(page: Any, run_id: str) -> None:
    """Open a run from the recent list (reloaded first, so a run started elsewhere shows)."""
    await page.click("#only-failed")  # toggling the filter reloads the list
    await page.click("#only-failed")
    await page.click(f"#recent-rows tr:has-text('{run_id}')")
    await page.wait_for_selector(f"#run-id:has-text('{run_id}')")


async def step_statuses(page: Any) -> list[str]:
    statuses = await page.eval_on_selector_all("#steps li", "els => els.map(e => e.dataset.status)")
    assert isinstance(statuses, list)
    return [str(s) for s in statuses]


async def percent(page: Any) -> float:
    return float(await page.get_attribute("#bar", "aria-valuenow") or 0)


async def start_month(page: Any, year: int, month: int) -> None:
    """Choose a month and press Start (confirmed); if earlier months are unposted (the demo
    register goes back years), press "Post anyway" as the page then offers."""
    await choose_period(page, year, month)
    await page.click("#start-button")
    await page.wait_for_selector("#run:not([hidden]), #post-anyway:not([hidden])")
    if await page.is_visible("#post-anyway"):
        await page.click("#post-anyway")
        await page.wait_for_selector("#run:not([hidden])")
    await page.wait_for_function(RUN_ID_SHOWN)  # the run's state has arrived


async def fill_params(page: Any, **values: str) -> None:
    """Type into the generated start form's fields (`#param-<name>`)."""
    for name, value in values.items():
        await page.fill(f"#param-{name}", value)


async def open_batch(page: Any, batch_id: str) -> None:
    """Open a batch from the recent list (reloaded first), where it is one row."""
    await page.click("#only-failed")
    await page.click("#only-failed")
    await page.click(f"#recent-rows tr[data-batch='{batch_id}']")
    await page.wait_for_selector(f"#batch-id:has-text('{batch_id}')")
    await page.wait_for_selector("#batch-children li.child")  # the batch's state has arrived


async def close_month(page: Any) -> None:
    """Press "Close the month" (confirmed); if earlier months are unposted (the demo register
    goes back years), press "Close anyway" as the page then offers."""
    shown = await page.inner_text("#batch-id")  # a batch shown before this one
    await page.click("#close-month")
    await page.wait_for_function(NEW_BATCH_OR_ANYWAY, arg=shown)
    if await page.is_visible("#close-anyway"):
        await page.click("#close-anyway")
        await page.wait_for_function(NEW_BATCH_OR_ANYWAY, arg=shown)


async def child_rows(page: Any) -> list[dict[str, str]]:
    """The batch view's rows as a person reads them."""
    rows = await page.eval_on_selector_all(
        "#batch-children li.child",
        """els => els.map(e => ({
            name: e.querySelector('.child-name').textContent,
            status: e.dataset.status,
            said: e.querySelector('.child-status').textContent,
            percent: e.querySelector('[role=progressbar]').getAttribute('aria-valuenow'),
            took: e.querySelector('.child-took').textContent,
            step: e.querySelector('.child-step').textContent,
            reason: (e.querySelector('.child-reason') || {}).textContent || '',
        }))""",
    )
    assert isinstance(rows, list)
    return rows
