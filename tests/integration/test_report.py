"""`GET /api/runs/{id}/report` and `progress-sse runs report`: one run as a page to keep.

Figures are checked against what the run stored and the month's journal, never
against the report's own code; hostile text stays text; unfinished runs say so.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from progress_sse.accounting.seed import seed_assets
from progress_sse.errors import JobError
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind
from progress_sse.jobs.report import ReportLink, ReportSection
from progress_sse.runs.progress import StepSpec
from progress_sse.settings import Settings
from tests.report_html import Report, read_report
from tests.support import Server, collect, run_server, run_status, start_run, wait_for

YEAR, MONTH = 2026, 6
CLI = str(Path(sys.executable).parent / "progress-sse")
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>&amp;\"'"


async def report_of(client: httpx.AsyncClient, run_id: str) -> tuple[httpx.Response, Report]:
    response = await client.get(f"/api/runs/{run_id}/report")
    assert response.status_code == 200, response.text
    return response, read_report(response.text)


async def posted_month(server: Server) -> tuple[str, dict[str, Any]]:
    async with server.client() as client:
        run_id = await start_run(
            client, "asset_depreciation", year=YEAR, month=MONTH, allow_earlier_unposted=True
        )
        await collect(client, f"/api/runs/{run_id}/events")
        run = await run_status(client, run_id)
    assert run["status"] == "completed", run
    return run_id, run


def grouped(amount: Decimal) -> str:
    return f"{amount:,}"


async def test_a_posted_month_shows_its_document_totals_skips_and_links_that_answer(
    settings: Settings, server: Server
) -> None:
    await seed_assets(settings, "acme", 150)
    run_id, run = await posted_month(server)
    result = run["result"]
    async with server.client() as client:
        response, report = await report_of(client, run_id)
        journal = (await client.get(f"/api/depreciation/{YEAR}/{MONTH}")).json()
        followed = {href: await client.get(href) for _, href in links_of(report)}
        journal_csv = await client.get(
            f"/api/depreciation/{YEAR}/{MONTH}", params={"format": "csv"}
        )

    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert report.badge == "Completed"
    posting = report["Posting"]
    assert posting.facts["Document"] == result["document_no"] == journal["document_no"]
    assert posting.facts["Entries"] == f"{journal['totals']['entries']:,}"
    assert (
        posting.facts["Total"]
        == f"{result['currency']} {grouped(Decimal(journal['totals']['amount']))}"
    )

    # per tax group, from the journal's own lines: entries and the exact sum of amounts
    counted: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal("0.00")])
    for line in journal["data"]:
        group = counted[line["tax_group"] or "none"]
        group[0] += 1
        group[1] += Decimal(line["amount"])
    shown = {row[0]: row[1:] for row in report["Totals per tax group"].rows()}
    assert shown.pop("Total") == [
        f"{len(journal['data']):,}",
        grouped(Decimal(journal["totals"]["amount"])),
    ]
    assert shown == {g: [f"{n:,}", grouped(amount)] for g, (n, amount) in counted.items()}
    assert len(shown) >= 3, "the demo register spreads over several tax groups"

    skipped = {row[0]: row[1:] for row in report["Skipped assets by reason"].rows()}
    assert {reason.replace("_", " "): f"{n:,}" for reason, n in result["skipped"].items()} == {
        reason: cells[0] for reason, cells in skipped.items()
    }
    for reason, codes in result["skipped_assets"].items():
        assert all(code in skipped[reason.replace("_", " ")][1] for code in codes)

    steps = report["Steps"].rows()
    assert [row[0] for row in steps] == ["init", "prepare", "load", "process", "finalize"]
    assert {row[1] for row in steps} == {"completed"}
    timeline = report["Timeline"].rows()
    assert timeline[[r[1] for r in timeline].index("process")][1:3] == ["process", "started"]
    assert timeline[-1][2] == "run completed"

    hrefs = [href for _, href in links_of(report)]
    assert f"{server.base_url}/api/depreciation/{YEAR}/{MONTH}?format=csv" in hrefs
    assert f"{server.base_url}/api/runs/{run_id}/log" in hrefs
    assert f"{server.base_url}/api/runs/{run_id}/log?format=csv" in hrefs
    assert {href: r.status_code for href, r in followed.items()} == dict.fromkeys(followed, 200)
    assert followed[f"{server.base_url}/api/depreciation/{YEAR}/{MONTH}?format=csv"].content == (
        journal_csv.content
    )


def links_of(report: Report) -> list[tuple[str, str]]:
    return [link for section in report.sections.values() for link in section.links]


async def test_the_page_allows_its_own_stylesheet_and_nothing_else(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=2, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
        response, report = await report_of(client, run_id)
    policy = response.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(report.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "script" not in policy
    assert "<script" not in response.text.lower()
    assert "@page" in report.style and "size: A4" in report.style
    assert response.headers["cache-control"] == "no-store"


async def test_a_generic_kind_shows_its_result_and_sentence(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=5, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
        run = await run_status(client, run_id)
        _, report = await report_of(client, run_id)
    assert report.badge == "Completed"
    assert run["summary"] in report["Outcome"].paragraphs
    result = report["Result"].facts
    assert result == {key: str(value) for key, value in sorted(run["result"].items())}
    assert report["Parameters"].facts["items"] == "5"
    assert report["The run"].facts["Started by"] == run["created_by"]
    assert report["The run"].facts["Started"].endswith(" UTC")
    assert re.fullmatch(r"\d+ ms|\d+\.\d s", report["The run"].facts["Took"])


async def test_a_failed_run_shows_its_error_and_no_result(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=5, delay_ms=0, fail_at=3)
        await collect(client, f"/api/runs/{run_id}/events")
        run = await run_status(client, run_id)
        _, report = await report_of(client, run_id)
    assert run["status"] == "failed"
    assert report.badge == "Failed"
    outcome = report["Outcome"].paragraphs
    assert f"Error: {run['error']}" in outcome and "Error code: demo_failure" in outcome
    assert "Result" not in report.sections
    assert report["Timeline"].rows()[-1][2] == "run failed"


async def test_a_running_run_says_it_has_not_finished(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=400, delay_ms=25, lock="slow")
        await wait_for(lambda: running(client, run_id))
        _, report = await report_of(client, run_id)
        await client.post(f"/api/runs/{run_id}/cancel")
        await collect(client, f"/api/runs/{run_id}/events")
    assert report.badge == "Not finished"
    assert report["Outcome"].paragraphs[0] == "Not finished"
    assert "has not finished: it is running" in report["Outcome"].paragraphs[1]
    assert report["The run"].facts["Finished"] == "—"
    assert "Result" not in report.sections
    assert "run completed" not in report.text


async def running(client: httpx.AsyncClient, run_id: str) -> bool:
    return (await run_status(client, run_id))["status"] == "running"


class Hostile(BaseModel):
    text: str
    fail: bool = False


async def hostile_job(ctx: JobContext, params: Hostile) -> dict[str, Any]:
    async with ctx.step(HOSTILE[:60], total=2):
        await ctx.progress(processed=1, message=params.text)
        await ctx.note(params.text * 3)
    if params.fail:
        raise JobError(params.text, code="hostile")
    return {HOSTILE: params.text, "long": "x" * 50_000, "nested": {"k": [HOSTILE]}}


def hostile_report(result: dict[str, Any], params: dict[str, Any]) -> list[ReportSection]:
    return [
        ReportSection(
            HOSTILE,
            facts=((HOSTILE, params["text"]),),
            links=(ReportLink(HOSTILE, "javascript:alert(1)"), ReportLink("x", "//evil.example/")),
        )
    ]


def broken_report(result: dict[str, Any], params: dict[str, Any]) -> list[ReportSection]:
    raise KeyError("an old result without the key this reporter wants")


KINDS = [
    JobKind(
        name="hostile", params=Hostile, run=hostile_job, steps=(StepSpec(HOSTILE[:60], 0, 100),)
    ),
    JobKind(
        name="hostile_report", params=Hostile, run=hostile_job, report=hostile_report,
        steps=(StepSpec(HOSTILE[:60], 0, 100),),
    ),
    JobKind(
        name="broken_report", params=Hostile, run=hostile_job, report=broken_report,
        steps=(StepSpec(HOSTILE[:60], 0, 100),),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "fail"),
    [("hostile", False), ("hostile", True), ("hostile_report", False), ("broken_report", False)],
)
async def test_hostile_text_stays_text_and_huge_text_is_cut(
    settings: Settings, kind: str, fail: bool
) -> None:
    text = HOSTILE + "W" * 30_000  # the body limit is 64 KiB
    async with run_server(settings, jobs=KINDS) as srv, srv.client() as client:
        run_id = await start_run(client, kind, text=text, fail=fail)
        await collect(client, f"/api/runs/{run_id}/events")
        response, report = await report_of(client, run_id)
    html = response.text
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert HOSTILE in report.text, "shown as the text it is"
    assert len(html) < 60_000, "values of 30,000 and 90,000 characters are cut, not printed whole"
    assert "more characters)" in report["Parameters"].facts["text"]
    assert report["Steps"].rows()[0][0] == HOSTILE[:60]
    assert report.badge == ("Failed" if fail else "Completed")
    hrefs = [href for _, href in links_of(report)]
    assert all(href.startswith(srv.base_url + "/") for href in hrefs), hrefs
    if kind == "hostile_report":
        assert report[HOSTILE].facts[HOSTILE].startswith(HOSTILE)
        assert f"{srv.base_url}/javascript:alert(1)" in hrefs
    elif not fail:  # no reporter, or one that failed: the result as a table
        assert report["Result"].facts[HOSTILE].startswith(HOSTILE)
        assert report["Result"].facts["nested"] == '{"k": ["' + HOSTILE.replace('"', '\\"') + '"]}'


async def test_another_tenant_a_batch_and_nobody_get_no_report(server: Server) -> None:
    async with server.client("acme") as acme, server.client("globex") as globex:
        run_id = await start_run(acme, items=1, delay_ms=0)
        await collect(acme, f"/api/runs/{run_id}/events")
        child = {"kind": "demo", "params": {"items": 1, "delay_ms": 0, "lock": "b"}}
        batch = (await acme.post("/api/batches", json={"name": "b", "children": [child]})).json()
        theirs = await globex.get(f"/api/runs/{run_id}/report")
        as_batch = await acme.get(f"/api/runs/{batch['id']}/report")
    async with server.client("acme-member") as member_client, server.client("") as anonymous:
        member = await member_client.get(f"/api/runs/{run_id}/report")
        nobody = await anonymous.get(f"/api/runs/{run_id}/report")
    assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "run_not_found"
    assert run_id not in theirs.text
    assert as_batch.status_code == 404
    assert member.status_code == 200 and run_id in member.text
    assert nobody.status_code == 401


# -- the command line ------------------------------------------------------------------------


async def cli(server: Server, *args: str, cwd: Path) -> tuple[int, str, str]:
    """`progress-sse` in a subprocess (the server shares this event loop)."""
    env = os.environ | {
        "PROGRESS_SSE_URL": server.base_url,
        "PROGRESS_SSE_API_KEY": server.keys["acme"],
    }
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_saves_the_report_and_says_where(server: Server, tmp_path: Path) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
        served = (await client.get(f"/api/runs/{run_id}/report")).text
    default = await cli(server, "runs", "report", run_id, cwd=tmp_path)
    chosen = await cli(server, "runs", "report", run_id, "--output", "out/r.html", cwd=tmp_path)
    to_stdout = await cli(server, "runs", "report", run_id, "-o", "-", cwd=tmp_path)
    missing = await cli(server, "runs", "report", "0" * len(run_id), cwd=tmp_path)

    assert (
        default[0] == 0 and default[1].strip() == f"report of {run_id} written to run-{run_id}.html"
    )
    saved = (tmp_path / f"run-{run_id}.html").read_text(encoding="utf-8")
    assert read_report(saved)["The run"].facts == read_report(served)["The run"].facts
    assert chosen[0] == 0 and (tmp_path / "out" / "r.html").is_file()
    assert to_stdout[0] == 0 and to_stdout[1].startswith("<!doctype html>")
    assert missing[0] == 1
    assert missing[2].strip() == "error: No such run. (HTTP 404 run_not_found)"
    assert not (tmp_path / f"run-{'0' * len(run_id)}.html").exists()
