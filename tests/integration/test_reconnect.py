"""Reconnecting with Last-Event-ID loses no step or terminal event and repeats nothing."""

from __future__ import annotations

import asyncio

import httpx

from progress_sse.web.api.stream import RECONNECT_MS
from tests.support import Frame, Server, collect, in_finalize, start_run, transitions, wait_for


async def reconnecting_watcher(
    client: httpx.AsyncClient, run_id: str, cut_after: list[int], *, use_query: bool
) -> tuple[list[Frame], int]:
    """Disconnect after each count of frames in `cut_after`, resume from the last id seen."""
    frames: list[Frame] = []
    last_id: str | None = "0"
    for connections, budget in enumerate([*cut_after, 10_000], start=1):
        url, headers = f"/api/runs/{run_id}/events", {}
        if last_id is not None and use_query:
            url += f"?last_event_id={last_id}"
        elif last_id is not None:
            headers["Last-Event-ID"] = last_id
        got = await collect(
            client, url, headers=headers, stop=lambda _f, n=[0], b=budget: _count(n, b)
        )
        frames += got
        if got and got[-1].event == "end":
            return frames, connections
        last_id = next(f.id for f in reversed(got) if f.id is not None)
    raise AssertionError("stream never ended")


def _count(counter: list[int], budget: int) -> bool:
    counter[0] += 1
    return counter[0] >= budget


async def test_reconnects_see_the_same_steps_and_terminal_as_an_uninterrupted_watcher(
    server: Server,
) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=60, delay_ms=8)
        steady, (by_header, n_header), (by_query, n_query) = await asyncio.gather(
            collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"}),
            reconnecting_watcher(client, run_id, [2, 3, 5, 8], use_query=False),
            reconnecting_watcher(client, run_id, [1, 4, 7], use_query=True),
        )
    assert n_header == 5 and n_query == 4, "the watchers really did reconnect"
    expected = transitions(steady)
    assert expected[0] == ("init", "in_progress") and expected[-1] == ("complete",)
    assert ("finalize", "in_progress") in expected
    for frames in (by_header, by_query):
        assert transitions(frames) == expected
        ids = [f.seq for f in frames if f.event != "end"]
        assert ids == sorted(set(ids)), "no duplicate and no backwards id across reconnects"
        assert [f.event for f in frames].count("end") == 1


async def test_reconnect_after_the_end_replays_only_what_was_missed(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=10, delay_ms=0)
        full = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        middle = full[len(full) // 2]
        rest = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": str(middle.seq)}
        )
        persisted = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    # Replay is exact: every persisted event after the id, none before it.
    assert [f.seq for f in rest if f.event != "end"] == [
        e["seq"] for e in persisted if e["seq"] > middle.seq
    ]
    assert rest[-1].event == "end"


async def test_bogus_last_event_id_gives_the_current_state(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
        for bogus in ("abc", "-5", "99999999", "1" * 40, "3.5"):
            frames = await collect(
                client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": bogus}
            )
            assert [f.event for f in frames] == ["complete", "end"], bogus


async def test_a_watcher_arriving_during_shutdown_is_sent_on_at_once(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=1, delay_ms=0, hold_ms=3000)
        await wait_for(lambda: in_finalize(client, run_id))  # silent from here on
        server.services.hub.close()  # what the lifespan does when this process is stopping
        async with asyncio.timeout(5):  # before the fix it waited for the server to cut it
            async with client.stream("GET", f"/api/runs/{run_id}/events") as response:
                body = (await response.aread()).decode()
    lines = body.splitlines()
    assert lines[0] == f"retry: {server.services.settings.retry_ms}"
    assert lines[-2:] == [f"retry: {RECONNECT_MS}", ""], "come back soon, to another process"


async def test_a_replay_of_a_resumed_run_goes_past_the_first_attempt_s_ending(
    server: Server,
) -> None:
    """A resumed run's history holds the failed attempt's `error`: replaying from the start
    (opened mid-resume, or after) must go on to the run's real end, with one `end`."""
    params = {"tables": ["products"], "batch_size": 100, "scale": 0.5, "outage_after": 1}
    async with server.client() as client:
        started = await client.post("/api/runs", json={"kind": "table_sync", "params": params})
        run_id = started.json()["id"]
        first = await collect(client, f"/api/runs/{run_id}/events")
        await client.post(f"/api/runs/{run_id}/resume")
        during = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        after = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
    assert [f.event for f in first][-2:] == ["error", "end"]
    for frames in (during, after):
        names = [f.event for f in frames]
        assert "error" in names, "the first attempt's ending is part of the history"
        assert names[-2:] == ["complete", "end"] and names.count("end") == 1, names
