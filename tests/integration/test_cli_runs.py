"""`progress-sse runs …` through the real entry point, against a real server on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_asset_import import csv_text, good_rows
from tests.proxy import cuttable
from tests.support import Server, collect, run_server, run_status, start_run, wait_for

CLI = str(Path(sys.executable).parent / "progress-sse")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def cli(server: Server | None, *args: str, key: str = "acme", **env: str) -> Result:
    """The command in a subprocess (the server shares this event loop, so never block it)."""
    extra = (
        {"PROGRESS_SSE_URL": server.base_url, "PROGRESS_SSE_API_KEY": server.keys[key]}
        if server
        else {}
    )
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, env=os.environ | extra | env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


def plain(text: str) -> str:
    """Typer's usage error box, as the words in it (it wraps long lines)."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.err and "Traceback" not in result.out


async def test_start_watch_list_latest_show_and_log(server: Server) -> None:
    started = await cli(
        server, "runs", "start", "demo", "-p", "items=5", "-p", "delay_ms=0", "--json"
    )
    run_id = started.json()["id"]
    watched = await cli(server, "runs", "watch", run_id)
    as_json = await cli(server, "runs", "watch", run_id, "--json")
    listed = await cli(server, "runs", "list", "--json")
    plain = await cli(server, "runs", "list")
    latest = await cli(server, "runs", "latest", "--json")
    shown = await cli(server, "runs", "show", run_id)
    log_rows = await cli(server, "runs", "log", run_id, "--json")
    log_csv = await cli(server, "runs", "log", run_id, "--csv")
    live = await cli(
        server, "runs", "start", "demo", "-p", "items=20", "-p", "lock=live", "--watch"
    )
    assert started.code == 0 and started.json()["status"] == "pending"
    assert watched.code == 0
    assert watched.out.endswith("completed: Completed.\n  Processed 5 items (total value 55).\n")
    assert not [x for x in watched.out.splitlines() if re.fullmatch(r"\s*0\.0%\s*:?\s*", x)]
    assert live.code == 0 and "process in_progress" in live.out, "piped: a line per step change"
    assert live.out.count("process in_progress") == 1, "not one per tick"
    events = [json.loads(line) for line in as_json.out.splitlines()]
    assert as_json.code == 0 and [e["event"] for e in events][-2:] == ["complete", "end"]
    assert events[0]["id"].isdigit() and events[0]["data"]["run_id"] == run_id, "real events only"
    assert all(e["id"] for e in events[:-1]), "no event made from the `retry:` line"
    assert [r["id"] for r in listed.json()] == [run_id]
    assert plain.out.splitlines()[0].split("\t")[:3] == ["id", "kind", "status"]
    assert run_id in plain.out.splitlines()[1], "plain tab-separated rows when piped"
    assert latest.json()["id"] == run_id and len(latest.json()["steps"]) == 5
    assert latest.json()["resume_command"] is None, "demo runs cannot be resumed"
    assert "completed" in shown.out and "finalize" in shown.out
    assert log_rows.json()[-1]["event"] == "complete"
    assert log_csv.out.startswith("seq,event,ts,status")
    for result in (started, watched, listed, latest, shown, log_rows, log_csv):
        no_traceback(result)


async def test_watch_exits_3_on_a_failed_run_and_show_failed_names_the_step(
    server: Server,
) -> None:
    failed = await cli(
        server, "runs", "start", "demo", "-p", "items=3", "-p", "delay_ms=0", "-p", "fail_at=2",
        "--watch",
    )  # fmt: skip
    async with server.client() as client:
        run_id = (await client.get("/api/runs?status=failed")).json()["data"][0]["id"]
    only_failed = await cli(server, "runs", "show", run_id, "--failed", "--json")
    shown = await cli(server, "runs", "show", run_id, "--failed")
    filtered = await cli(server, "runs", "list", "--status", "failed", "--json")
    assert failed.code == 3 and "failed: Item 2 could not be processed" in failed.out
    assert [s["name"] for s in only_failed.json()["steps"]] == ["process"]
    assert "process" in shown.out and "init" not in shown.out
    assert [r["id"] for r in filtered.json()] == [run_id]


async def test_watch_exits_4_when_the_run_is_cancelled(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=500, delay_ms=20)
        watching = asyncio.create_task(cli(server, "runs", "watch", run_id))
        await wait_for(lambda: _running(client, run_id))
        cancelled = await cli(server, "runs", "cancel", run_id)
        watched = await watching
    assert cancelled.code == 0 and "cancel requested" in cancelled.out
    assert watched.code == 4 and watched.out.strip().splitlines()[-1].startswith("cancelled")


async def _running(client: Any, run_id: str) -> bool:
    return bool((await run_status(client, run_id))["processed"] > 0)


async def test_show_gives_the_resume_command_and_resume_queues_the_run(
    make_settings: Any,
) -> None:
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        run_id = await start_run(client, "asset_depreciation", year=2026, month=9)
        await client.post("/api/admin/tenants/acme/reset")  # the run fails (resumable kind)
        shown = await cli(srv, "runs", "show", run_id)
        resumed = await cli(srv, "runs", "resume", run_id, "--json")
    assert f"resume with: progress-sse runs resume {run_id}" in shown.out
    assert resumed.code == 0 and resumed.json()["status"] == "pending"


async def test_list_all_pages_through_every_run(server: Server) -> None:
    async with server.client() as client:
        ids = [await start_run(client, items=1, delay_ms=0, lock=f"l{i}") for i in range(3)]
        for run_id in ids:
            await collect(client, f"/api/runs/{run_id}/events")
    one = await cli(server, "runs", "list", "--limit", "1", "--json")
    every = await cli(server, "runs", "list", "--all", "--json")
    assert len(one.json()) == 1 and sorted(r["id"] for r in every.json()) == sorted(ids)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("runs", "show", "0" * 26), "HTTP 404 run_not_found"),
        (("runs", "cancel", "0" * 26), "HTTP 404 run_not_found"),
        (("runs", "start", "nope"), "Unknown job kind 'nope'"),
        (("runs", "start", "demo", "-p", "items=-1"), "HTTP 422"),
    ],
)
async def test_errors_are_one_line_and_exit_1(
    server: Server, args: tuple[str, ...], message: str
) -> None:
    result = await cli(server, *args)
    assert result.code == 1 and message in result.err
    assert len(result.err.strip().splitlines()) == 1
    no_traceback(result)


async def test_kinds_and_their_parameters_come_from_the_server(server: Server) -> None:
    listed = await cli(server, "runs", "kinds", "--json")
    demo = await cli(server, "runs", "kinds", "demo", "--json")
    shown = await cli(server, "runs", "kinds", "demo")
    assert {"demo", "asset_depreciation", "asset_import"} <= {k["name"] for k in listed.json()}
    items = next(p for p in demo.json() if p["name"] == "items")
    assert items == {
        "name": "items", "type": "integer", "required": False, "default": 20, "description": "",
    }  # fmt: skip
    assert shown.code == 0 and "delay_ms" in shown.out and "pause per item" in shown.out


async def test_a_parameter_the_kind_does_not_take_is_refused_before_sending(
    server: Server,
) -> None:
    unknown = await cli(server, "runs", "start", "demo", "-p", "colour=red")
    not_a_number = await cli(server, "runs", "start", "demo", "-p", "items=many")
    async with server.client() as client:
        runs = (await client.get("/api/runs")).json()["data"]
    assert unknown.code == 2 and "unknown parameter 'colour'" in plain(unknown.err)
    assert "items, delay_ms, fail_at, hold_ms, lock" in plain(unknown.err)
    assert not_a_number.code == 2 and "items must be a whole number" in plain(not_a_number.err)
    assert runs == [], "nothing was started"
    no_traceback(unknown)


async def test_no_key_a_bad_param_or_no_server_are_clear(server: Server) -> None:
    no_key = await cli(server, "runs", "list", PROGRESS_SSE_API_KEY="")
    bad = await cli(server, "runs", "start", "demo", "-p", "items")
    away = await cli(None, "runs", "list", "--url", "http://127.0.0.1:9", "--key", "pss_x")
    assert no_key.code == 1 and "an API key is needed" in no_key.err
    assert bad.code == 2 and "is not key=value" in bad.err
    assert away.code == 1 and "cannot reach http://127.0.0.1:9" in away.err
    for result in (no_key, bad, away):
        no_traceback(result)


async def test_cleanup_deletes_old_finished_runs(server: Server, db_urls: dict[str, str]) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=1, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
    env = {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"]}
    kept = await cli(None, "cleanup", "--older-than", "30d", "--json", **env)
    bad = await cli(None, "cleanup", "--older-than", "soon", **env)
    await asyncio.sleep(1.1)
    gone = await cli(None, "cleanup", "--older-than", "1s", **env)
    assert kept.code == 0 and kept.json()["deleted_runs"] == 0
    assert bad.code == 2 and "is not an age" in bad.err
    assert gone.code == 0 and "deleted 1 finished run(s)" in gone.out


async def test_watch_reconnects_with_last_event_id_when_the_connection_drops(
    server: Server,
) -> None:
    async with cuttable(server.base_url) as proxy, server.client() as client:
        run_id = await start_run(client, items=60, delay_ms=50)
        watching = asyncio.create_task(
            cli(server, "runs", "watch", run_id, PROGRESS_SSE_URL=proxy.base_url)
        )
        await wait_for(lambda: _streamed(proxy))
        proxy.cut()  # the network drops the stream, and stays down a moment
        await asyncio.sleep(0.5)
        proxy.heal()
        watched = await watching
    first, *later = proxy.event_streams()
    resumed = [s for s in later if s.last_event_id is not None]
    assert watched.code == 0 and "reconnecting" in watched.err
    assert resumed and resumed[0].last_event_id == str(first.event_ids()[-1])


async def _streamed(proxy: Any) -> bool:
    return any(stream.event_ids() for stream in proxy.event_streams())


async def test_pause_and_resume_an_import_and_a_refusal(make_settings: Any) -> None:
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        response = await client.post(
            "/api/assets/import?chunk_size=5&filename=register.csv",
            content=csv_text(good_rows(7)).encode(),
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 202, response.text
        run_id = response.json()["id"]
        depreciation = await start_run(client, "asset_depreciation", year=2026, month=9)
        paused = await cli(srv, "runs", "pause", run_id)
        refused = await cli(srv, "runs", "pause", depreciation)
        resumed = await cli(srv, "runs", "resume", run_id, "--json")
    assert paused.code == 0 and paused.out == f"paused {run_id}\n"
    assert refused.code == 1 and "HTTP 409 not_pausable" in refused.err
    assert "one transaction" in refused.err
    assert resumed.code == 0 and resumed.json()["status"] == "pending"
    assert resumed.json()["message"] == "Continuing; waiting for a worker"
    no_traceback(refused)
