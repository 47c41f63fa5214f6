"""`progress-sse batches …` through the real entry point, against a real server on loopback.

Batches are started over HTTP with small demo children (each on a lock of its own); what
each command must print comes from the scenario (which child was told to fail).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.integration.test_batches import show as shown
from tests.integration.test_batches import start as started
from tests.integration.test_cli_runs import Result, cli, no_traceback, plain
from tests.proxy import CuttableProxy, Recorded, cuttable
from tests.support import Server, collect, wait_for

FAILED_ITEM = "Item 2 could not be processed (demo failure)."
WAITS = "skipped: it waits for child 1 (b), which failed"


def demo(name: str, *, items: int = 3, delay_ms: int = 5, **more: Any) -> dict[str, Any]:
    params = {"items": items, "delay_ms": delay_ms, "lock": name, **more}
    return {"name": name, "kind": "demo", "params": params}


async def start(client: httpx.AsyncClient, name: str, *children: dict[str, Any]) -> str:
    return str((await started(client, name=name, children=list(children)))["id"])


async def ended(client: httpx.AsyncClient, batch_id: str) -> None:
    await collect(client, f"/api/batches/{batch_id}/events", limit_s=60)


def rows(result: Result) -> list[list[str]]:
    """The tab-separated table of a piped command (its header row first)."""
    return [row.split("\t") for row in result.out.splitlines() if "\t" in row]


async def test_a_completed_batch_watched_listed_and_shown(server: Server) -> None:
    async with server.client() as client:
        batch_id = await start(client, "Fine", demo("a"), demo("b"))
        watched = await cli(server, "batches", "watch", batch_id)
        as_json = await cli(server, "batches", "watch", batch_id, "--json")
        done = await shown(client, batch_id)
    listed = await cli(server, "batches", "list", "--json")
    table = await cli(server, "batches", "list")
    latest = await cli(server, "batches", "latest", "--json")
    show = await cli(server, "batches", "show", batch_id)
    run_a, run_b = (child["run_id"] for child in done["children"])
    assert watched.code == 0
    assert watched.out.endswith(
        f"completed: {done['message']}\n  0 a  succeeded  run {run_a}\n"
        f"  1 b  succeeded  run {run_b}\n"
    )
    events = [json.loads(line) for line in as_json.out.splitlines()]
    assert as_json.code == 0 and [e["event"] for e in events][-2:] == ["complete", "end"]
    assert events[0]["id"].isdigit() and events[0]["data"]["run_id"] == batch_id
    assert events[-2]["data"]["counts"]["succeeded"] == 2
    assert [b["id"] for b in listed.json()] == [batch_id]
    assert rows(table)[0] == ["id", "name", "status", "done", "children", "created", "duration"]
    assert rows(table)[1][:5] == [batch_id, "Fine", "completed", "100%", "2/2 ok"]
    assert latest.json()["id"] == batch_id and latest.json()["resume_command"] is None
    assert show.code == 0
    assert show.out.startswith(f"{batch_id}  Fine  completed  100%  ")
    assert "  children: 2/2 ok\n" in show.out and "resume with" not in show.out
    header, first, second = rows(show)
    assert header == ["#", "name", "kind", "status", "done", "step", "duration", "run", "reason"]
    assert first[:6] == ["0", "a", "demo", "succeeded", "100%", "-"]
    assert first[6].endswith(" s") and first[7:] == [run_a, "-"]
    assert second[:5] == ["1", "b", "demo", "succeeded", "100%"] and second[7] == run_b
    for result in (watched, as_json, listed, table, latest, show):
        no_traceback(result)


async def test_a_failed_batch_exits_3_and_names_each_child_s_outcome(server: Server) -> None:
    async with server.client() as client:
        fine = await start(client, "Fine", demo("x"))
        await ended(client, fine)
        batch_id = await start(client, "Close", demo("a"), demo("b", fail_at=2), demo("c"))
        watched = await cli(server, "batches", "watch", batch_id)
        done = await shown(client, batch_id)
    failed = await cli(server, "batches", "list", "--failed", "--json")
    both = await cli(server, "batches", "list", "--json")
    show = await cli(server, "batches", "show", batch_id)
    latest = await cli(server, "batches", "latest")
    run_a, run_b = done["children"][0]["run_id"], done["children"][1]["run_id"]
    assert watched.code == 3
    assert watched.out.endswith(
        f"failed: {done['message']}\n"
        f"  0 a  succeeded  run {run_a}\n"
        f"  1 b  failed  run {run_b}  {FAILED_ITEM}\n"
        f"  2 c  skipped  {WAITS.removeprefix('skipped: ')}\n"
    )
    assert "b failed: Item 2 could not be processed" in done["message"]
    assert [b["id"] for b in failed.json()] == [batch_id]
    assert [b["id"] for b in both.json()] == [batch_id, fine], "newest first"
    # `show` exits 0 for a failed batch, as `runs show` does for a failed run: it showed it.
    assert show.code == 0 and latest.code == 0 and latest.out == show.out
    assert show.out.startswith(f"{batch_id}  Close  failed  ")
    assert "  children: 1/3 ok, 1 failed, 1 skipped\n" in show.out
    _, a, b, c = rows(show)
    assert a[3] == "succeeded" and a[7] == run_a
    assert b[:4] == ["1", "b", "demo", "failed"] and b[5] == "process", "the step it failed in"
    assert b[7:] == [run_b, FAILED_ITEM]
    assert c[:6] == ["2", "c", "demo", "skipped", "0%", "-"]
    assert c[6:] == ["-", "-", WAITS], "a skipped child never ran"
    assert show.out.endswith(f"resume with: progress-sse batches resume {batch_id}\n")


async def test_cancel_exits_watch_with_4_and_resume_runs_it_again(server: Server) -> None:
    async with server.client() as client:
        batch_id = await start(client, "Long", demo("a", items=300, delay_ms=20), demo("b"))
        watching = asyncio.create_task(cli(server, "batches", "watch", batch_id))
        await wait_for(lambda: _moving(client, batch_id))
        cancelled = await cli(server, "batches", "cancel", batch_id)
        watched = await watching
        again = await cli(server, "batches", "cancel", batch_id)
        resumed = await cli(server, "batches", "resume", batch_id, "--json")
        busy = await cli(server, "batches", "resume", batch_id)
        stopped = await cli(server, "batches", "cancel", batch_id, "--json")
        await ended(client, batch_id)
        done = await shown(client, batch_id)
    assert cancelled.code == 0
    assert cancelled.out.startswith(f"cancel requested for {batch_id} (")
    assert watched.code == 4, watched.err
    assert watched.out.splitlines()[-3].startswith("cancelled: ")
    assert watched.out.splitlines()[-2].startswith("  0 a  cancelled  run ")
    assert watched.out.splitlines()[-1] == "  1 b  skipped  the batch was cancelled"
    assert again.code == 1, "a batch that has ended cannot be cancelled"
    assert again.err == "error: The batch has already ended (cancelled). (HTTP 409 run_finished)\n"
    assert resumed.code == 0 and resumed.json()["status"] == "running"
    assert resumed.json()["counts"]["running"] == 1 and resumed.json()["counts"]["pending"] == 1
    assert busy.code == 1 and "Only a failed, cancelled or paused batch can be resumed" in busy.err
    assert "HTTP 409 not_resumable" in busy.err
    assert stopped.code == 0 and stopped.json()["id"] == batch_id
    assert done["status"] == "cancelled"
    for result in (cancelled, watched, again, resumed, busy, stopped):
        no_traceback(result)


async def _moving(client: httpx.AsyncClient, batch_id: str) -> bool:
    return bool((await shown(client, batch_id))["children"][0]["percentage"] > 0)


async def test_resume_a_failed_batch_prints_its_new_state(server: Server) -> None:
    async with server.client() as client:
        batch_id = await start(client, "Retry", demo("a", fail_at=1), demo("b"))
        await ended(client, batch_id)
        resumed = await cli(server, "batches", "resume", batch_id)
        await ended(client, batch_id)
    assert resumed.code == 0
    assert resumed.out == f"resumed {batch_id}: running (0/2 ok, 1 running, 1 pending)\n"


async def test_list_pages_and_latest_without_batches(server: Server) -> None:
    empty = await cli(server, "batches", "latest")
    async with server.client() as client:
        ids = [await start(client, f"B{i}", demo(f"l{i}", items=1)) for i in range(3)]
        for batch_id in ids:
            await ended(client, batch_id)
    one = await cli(server, "batches", "list", "--limit", "1", "--json")
    every = await cli(server, "batches", "list", "--all", "--json")
    assert empty.code == 1 and empty.err == "error: there are no batches yet\n"
    assert [b["id"] for b in one.json()] == [ids[-1]]
    assert [b["id"] for b in every.json()] == ids[::-1]


@pytest.mark.parametrize("command", ["show", "watch", "cancel", "resume"])
async def test_an_unknown_batch_is_one_line_and_exit_1(server: Server, command: str) -> None:
    result = await cli(server, "batches", command, "0" * 26)
    assert result.code == 1 and "HTTP 404 batch_not_found" in result.err
    assert len(result.err.strip().splitlines()) == 1 and result.out == ""
    no_traceback(result)


async def test_bad_usage_exits_2_and_no_key_or_server_exit_1(server: Server) -> None:
    both = await cli(server, "batches", "list", "--failed", "--status", "running")
    no_key = await cli(server, "batches", "list", PROGRESS_SSE_API_KEY="")
    away = await cli(None, "batches", "list", "--url", "http://127.0.0.1:9", "--key", "pss_x")
    assert both.code == 2 and "--failed and --status running" in plain(both.err)
    assert no_key.code == 1 and "an API key is needed" in no_key.err
    assert away.code == 1 and "cannot reach http://127.0.0.1:9" in away.err
    for result in (both, no_key, away):
        no_traceback(result)


async def test_watch_reconnects_to_the_batch_stream_with_last_event_id(server: Server) -> None:
    async with cuttable(server.base_url) as proxy, server.client() as client:
        batch_id = await start(client, "Cut", demo("a", items=100, delay_ms=50))
        watching = asyncio.create_task(
            cli(server, "batches", "watch", batch_id, PROGRESS_SSE_URL=proxy.base_url)
        )
        await wait_for(lambda: _streamed(proxy))
        proxy.cut()  # the network drops the stream, and stays down a moment
        await asyncio.sleep(0.5)
        proxy.heal()
        watched = await watching
    first, *later = _batch_streams(proxy)
    resumed = [s for s in later if s.last_event_id is not None]
    assert watched.code == 0 and "reconnecting" in watched.err
    # piped: a line when the child that moved (or its state) changes, not one per tick
    assert watched.out.count("% a in_progress: a: ") == 1, watched.out
    assert watched.out.splitlines()[-1].startswith("  0 a  succeeded  run ")
    assert resumed and resumed[0].last_event_id == str(first.event_ids()[-1])


def _batch_streams(proxy: CuttableProxy) -> list[Recorded]:
    return [c for c in proxy.connections if b"/api/batches/" in c.request]


async def _streamed(proxy: CuttableProxy) -> bool:
    return any(stream.event_ids() for stream in _batch_streams(proxy))


async def test_pause_waits_for_the_running_child_and_resume_continues(server: Server) -> None:
    async with server.client() as client:
        batch_id = await start(client, "Two", demo("a", items=40, delay_ms=20), demo("b"))
        await wait_for(lambda: _moving(client, batch_id))
        pausing = await cli(server, "batches", "pause", batch_id)

        async def paused() -> bool:
            return bool((await shown(client, batch_id))["status"] == "paused")

        await wait_for(paused)
        again = await cli(server, "batches", "pause", batch_id)
        resumed = await cli(server, "batches", "resume", batch_id)
        await ended(client, batch_id)
        done = await shown(client, batch_id)
    assert pausing.code == 0 and pausing.out.startswith(f"pausing {batch_id} (")
    assert again.code == 0 and again.out == f"paused {batch_id} (1/2 ok, 1 pending)\n"
    assert resumed.code == 0 and resumed.out.startswith(f"resumed {batch_id}: running")
    assert done["status"] == "completed"
