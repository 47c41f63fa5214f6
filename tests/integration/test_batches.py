"""Batches over HTTP, on SQLite and PostgreSQL: a set of runs started, watched, cancelled
and resumed as one, with counts that add up at every event (issue 18).

Expected outcomes come from the scenario itself (which child was told to fail), not from
the batch rules under test.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest

from progress_sse.settings import Settings
from tests.integration.test_example_job import records
from tests.receiver import Receiver, receiving
from tests.support import Frame, Server, collect, demo_rows, run_server, run_status, wait_for

pytestmark = pytest.mark.asyncio
COUNTS = ("succeeded", "failed", "cancelled", "skipped", "running", "pending")
ENDED = ("completed", "failed", "cancelled")


def demo(name: str, *, items: int = 4, delay_ms: int = 5, **more: Any) -> dict[str, Any]:
    """A demo child with a lock of its own (two demo runs on one lock may not overlap)."""
    params = {"items": items, "delay_ms": delay_ms, "lock": name, **more}
    return {"name": name, "kind": "demo", "params": params}


async def start(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/batches", json=body)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def show(client: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/batches/{batch_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def watch(client: httpx.AsyncClient, batch: dict[str, Any], after: int = 0) -> list[Frame]:
    """The batch's stream from `after` to `end` (replayed, then live)."""
    headers = {"Last-Event-ID": str(after)}
    return await collect(client, batch["events_url"], headers=headers, limit_s=60)


def check_counts(frames: list[Frame], size: int) -> None:
    """Every event's counts add up to the batch's size, and only `complete` says 100 %."""
    for frame in frames:
        if frame.event == "end":
            continue
        counts = frame.data["counts"]
        assert sum(counts[k] for k in COUNTS) == size, frame
        if frame.event != "complete":
            assert frame.data["percentage"] < 100, frame
    percentages = [f.data["percentage"] for f in frames if f.event in ("message", "complete")]
    assert percentages == sorted(percentages), "the bar never moves backwards"


def statuses(batch: dict[str, Any]) -> list[str]:
    return [child["status"] for child in batch["children"]]


async def test_a_sequence_runs_each_child_after_the_one_before(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="In a row", children=[demo("a"), demo("b"), demo("c")])
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
    assert batch["counts"] == {"succeeded": 0, "failed": 0, "cancelled": 0, "skipped": 0,
                               "running": 1, "pending": 2}  # fmt: skip
    assert [f.event for f in frames][-2:] == ["complete", "end"]
    check_counts(frames, 3)
    assert frames[-2].data["counts"]["succeeded"] == 3
    assert [c["status"] for c in frames[-2].data["children"]] == ["succeeded"] * 3
    assert done["status"] == "completed" and done["percentage"] == 100.0
    children = done["children"]
    assert children[0]["finished_at"] <= children[1]["started_at"]
    assert children[1]["finished_at"] <= children[2]["started_at"]
    moving = [f.data["child"]["name"] for f in frames if f.event == "message" and f.data["child"]]
    assert moving.index("a") < moving.index("b") < moving.index("c")


async def test_parallel_children_run_together_and_after_waits_for_both(server: Server) -> None:
    body = {
        "name": "Two books, then the summary",
        "parallel": True,
        "children": [
            demo("north", items=6, delay_ms=40), demo("south", items=6, delay_ms=40),
            {**demo("summary"), "after": ["north", "south"]},
        ],
    }  # fmt: skip
    async with server.client() as client:
        batch = await start(client, **body)
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
    north, south, summary = done["children"]
    assert batch["counts"]["running"] == 2 and batch["counts"]["pending"] == 1
    assert north["started_at"] < south["finished_at"] and south["started_at"] < north["finished_at"]
    assert summary["started_at"] >= max(north["finished_at"], south["finished_at"])
    assert summary["after"] == [0, 1] and north["after"] == [] == south["after"]
    assert done["status"] == "completed"
    check_counts(frames, 3)
    assert max(f.data["counts"]["running"] for f in frames if f.event == "message") == 2


async def test_a_failing_middle_child_skips_what_waits_for_it(server: Server) -> None:
    async with server.client() as client:
        batch = await start(
            client, name="Close", children=[demo("a"), demo("b", fail_at=2), demo("c")]
        )
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
        runs = (await client.get("/api/runs")).json()["data"]
    assert [f.event for f in frames][-2:] == ["error", "end"]
    check_counts(frames, 3)
    ending = frames[-2].data
    assert ending["counts"] == {"succeeded": 1, "failed": 1, "cancelled": 0, "skipped": 1,
                                "running": 0, "pending": 0}  # fmt: skip
    assert [c["status"] for c in ending["children"]] == ["succeeded", "failed", "skipped"]
    assert "Item 2 could not be processed" in ending["children"][1]["reason"]
    assert ending["children"][2]["reason"] == "skipped: it waits for child 1 (b), which failed"
    assert ending["children"][2]["run_id"] is None, "a skipped child never ran"
    assert ending["error_code"] == "child_failed"
    assert ending["message"].startswith("Failed: b failed: Item 2 could not be processed")
    assert done["status"] == "failed" and done["resumable"] is True
    assert done["percentage"] < 100
    assert len(runs) == 2, "the skipped child has no run"


async def test_cancel_rolls_back_the_running_child_and_skips_the_rest(
    server: Server, settings: Settings
) -> None:
    async with server.client() as client:
        batch = await start(
            client, name="Long", children=[demo("a", items=400, delay_ms=20), demo("b"), demo("c")]
        )

        async def moving() -> bool:
            child = (await show(client, batch["id"]))["children"][0]
            return bool(child["percentage"] > 40)

        await wait_for(moving)
        cancelled = await client.post(f"/api/batches/{batch['id']}/cancel")
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
        again = await client.post(f"/api/batches/{batch['id']}/cancel")
    assert cancelled.status_code == 202
    assert [f.event for f in frames][-2:] == ["cancelled", "end"]
    check_counts(frames, 3)
    assert statuses(done) == ["cancelled", "skipped", "skipped"]
    assert done["children"][1]["reason"] == "skipped: the batch was cancelled"
    assert await demo_rows(settings, done["children"][0]["run_id"]) == 0, "rolled back"
    assert done["status"] == "cancelled" and done["resumable"] is True
    assert again.status_code == 409


async def test_resume_runs_only_what_did_not_succeed(server: Server, settings: Settings) -> None:
    """a succeeded and is never run again; the chunked child resumes its own run from its
    last committed chunk; the cancelled demo child (not resumable) starts a new run."""
    sync = {
        "name": "sync",
        "kind": "table_sync",
        "params": {"tables": ["customers"], "batch_size": 50, "scale": 0.1, "outage_after": 2},
    }
    async with server.client() as client:
        batch = await start(client, name="Resume", children=[demo("a"), sync, demo("c")])
        first = await watch(client, batch)
        failed = await show(client, batch["id"])
        kept = await records(settings)
        resumed = await client.post(f"/api/batches/{batch['id']}/resume")
        second = await watch(client, batch, after=first[-2].seq)
        done = await show(client, batch["id"])
        runs = {c["name"]: await run_status(client, c["run_id"]) for c in done["children"]}
    assert first[-2].event == "error" and statuses(failed) == ["succeeded", "failed", "skipped"]
    assert kept == {"customers": 100}, "two chunks of 50 were committed before the outage"
    assert resumed.status_code == 202 and resumed.json()["data"]["status"] == "running"
    assert [f.event for f in second][-2:] == ["complete", "end"]
    check_counts(second, 3)
    assert second[0].data["counts"]["succeeded"] == 1, "a stays done"
    assert statuses(done) == ["succeeded"] * 3
    assert done["children"][0]["run_id"] == failed["children"][0]["run_id"]
    assert runs["a"]["attempt"] == 1, "a succeeded child is never run twice"
    assert done["children"][1]["run_id"] == failed["children"][1]["run_id"]
    assert runs["sync"]["attempt"] == 2 and runs["sync"]["result"]["batches"] == 1
    assert await records(settings) == {"customers": 120}, "no row twice"


async def test_a_cancelled_child_of_a_kind_that_cannot_resume_starts_anew(
    server: Server,
) -> None:
    async with server.client() as client:
        batch = await start(client, name="Again", children=[demo("a", items=300, delay_ms=20)])

        async def running() -> bool:
            return bool((await show(client, batch["id"]))["children"][0]["percentage"] > 20)

        await wait_for(running)
        await client.post(f"/api/batches/{batch['id']}/cancel")
        first = await watch(client, batch)
        before = await show(client, batch["id"])
        # the demo kind cannot resume: the child gets a new run (with fewer items to wait for)
        await client.post(f"/api/batches/{batch['id']}/resume")
        second = await watch(client, batch, after=first[-2].seq)
        after = await show(client, batch["id"])
    assert first[-2].event == "cancelled" and second[-2].event == "complete"
    assert after["children"][0]["run_id"] != before["children"][0]["run_id"]


async def test_a_reconnect_replays_the_batch_stream_exactly(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Replay", children=[demo("a"), demo("b")])
        whole = await watch(client, batch)
        middle = whole[len(whole) // 2]
        rest = await watch(client, batch, after=middle.seq)
        snapshot = await collect(client, batch["events_url"])
    assert [(f.id, f.event, f.data) for f in rest] == [
        (f.id, f.event, f.data) for f in whole if f.seq > middle.seq or f.event == "end"
    ]
    assert [int(f.id or 0) for f in whole if f.event != "end"] == list(range(1, len(whole)))
    assert [f.event for f in snapshot] == ["complete", "end"], "a new watcher gets the ending"


async def test_a_batch_is_its_tenants_alone(server: Server) -> None:
    async with server.client() as acme, server.client("globex") as globex:
        batch = await start(acme, name="Mine", children=[demo("a", items=200, delay_ms=20)])
        base = f"/api/batches/{batch['id']}"
        answers = [
            await globex.get(base),
            await globex.get(f"{base}/events"),
            await globex.post(f"{base}/cancel"),
            await globex.post(f"{base}/resume"),
        ]
        listed = (await globex.get("/api/batches")).json()["data"]
        child = await globex.get(f"/api/runs/{batch['children'][0]['run_id']}")
        await acme.post(f"{base}/cancel")
    assert [a.status_code for a in answers] == [404] * 4
    assert {a.json()["error"]["code"] for a in answers} == {"batch_not_found"}
    assert listed == [] and child.status_code == 404


async def test_a_batch_is_not_a_run_and_its_children_say_whose_they_are(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Lists", children=[demo("a"), demo("b")])
        await watch(client, batch)
        single = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 1, "lock": "x"}}
        )
        await collect(client, single.json()["events_url"])
        as_run = await client.get(f"/api/runs/{batch['id']}")
        everything = (await client.get("/api/runs")).json()["data"]
        alone = (await client.get("/api/runs?in_batch=false")).json()["data"]
        inside = (await client.get("/api/runs?in_batch=true")).json()["data"]
        batches = (await client.get("/api/batches")).json()["data"]
        failed = (await client.get("/api/batches?status=failed")).json()["data"]
        bad = await client.get("/api/runs?in_batch=maybe")
    assert as_run.status_code == 404
    assert len(everything) == 3 and all(r["kind"] == "demo" for r in everything)
    assert [r["id"] for r in alone] == [single.json()["id"]]
    assert {r["batch_id"] for r in inside} == {batch["id"]} and len(inside) == 2
    assert [b["id"] for b in batches] == [batch["id"]] and failed == []
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"children": [demo("a")]}, "name"),
        ({"name": "x", "children": []}, "children"),
        ({"name": "x", "children": [demo("a")] * 101}, "children"),
        ({"name": "x", "children": [{"kind": "nope"}]}, "children[0].kind"),
        ({"name": "x", "children": [demo("a"), {**demo("b"), "params": {"items": 0}}]},
         "children[1].params.items"),
        ({"name": "x", "children": [{**demo("a"), "after": [1]}, demo("b")]}, "children"),
        ({"name": "x", "children": [demo("a"), {**demo("b"), "after": ["zz"]}]},
         "children[1].after"),
        ({"name": "x", "children": [demo("a"), demo("a")]}, "children"),
        ({"name": "x", "children": [{**demo("a"), "weight": 0}]}, "children"),
        ({"name": "x", "children": [{**demo("a"), "weight": "heavy"}]}, "children[0].weight"),
        ({"name": "x", "children": [{**demo("a"), "colour": 1}]}, "children[0]"),
        ({"name": "x", "children": [demo("a")], "parallel": "yes"}, "parallel"),
    ],
)  # fmt: skip
async def test_a_bad_batch_is_refused_whole_with_the_field_named(
    server: Server, body: dict[str, Any], field: str
) -> None:
    async with server.client() as client:
        response = await client.post("/api/batches", json=body)
        listed = (await client.get("/api/batches")).json()["data"]
        runs = (await client.get("/api/runs")).json()["data"]
    assert response.status_code == 422, response.text
    assert field in [f["field"] for f in response.json()["error"]["fields"]], response.text
    assert listed == [] and runs == [], "nothing half-written"


async def test_a_repeated_idempotency_key_returns_the_same_batch(server: Server) -> None:
    body = {"name": "Once", "children": [demo("a")]}
    async with server.client() as client:
        headers = {"Idempotency-Key": "close-2026-11"}
        first = await client.post("/api/batches", json=body, headers=headers)
        second = await client.post("/api/batches", json=body, headers=headers)
        other = await client.post("/api/batches", json={**body, "name": "Twice"}, headers=headers)
        listed = (await client.get("/api/batches")).json()["data"]
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409 and len(listed) == 1


async def test_a_child_that_cannot_start_fails_with_the_reason(server: Server) -> None:
    async with server.client() as client:
        batch = await start(
            client, name="Blocked", children=[demo("a", items=20, delay_ms=20), demo("books")]
        )
        # While a runs, a run outside the batch takes the lock its second child needs.
        holder = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 400, "delay_ms": 20,
                                                          "lock": "books"}}
        )  # fmt: skip
        frames = await watch(client, batch)
        await client.post(f"/api/runs/{holder.json()['id']}/cancel")
    ending = frames[-2].data
    assert frames[-2].event == "error"
    assert [c["status"] for c in ending["children"]] == ["succeeded", "failed"]
    assert "another run for the same work is active" in ending["children"][1]["reason"]


async def test_random_outcomes_give_exact_counts_at_every_event(server: Server) -> None:
    """Property over random batches (seeded): random sizes, dependencies and failures.
    The expected end of each child is worked out here from the scenario alone."""
    rng = random.Random(18)
    async with server.client() as client:
        for _ in range(6):
            size = rng.randint(1, 6)
            fails = [rng.random() < 0.3 for _ in range(size)]
            parallel = rng.random() < 0.5
            children = []
            for i in range(size):
                child = demo(f"c{i}", items=2, delay_ms=1, **({"fail_at": 1} if fails[i] else {}))
                if i and rng.random() < 0.5:
                    child["after"] = sorted(rng.sample(range(i), rng.randint(1, i)))
                children.append(child)
            batch = await start(client, name="Random", parallel=parallel, children=children)
            frames = await watch(client, batch)
            check_counts(frames, size)
            expected: list[str] = []
            for i, child in enumerate(children):
                waits = child.get("after", [] if parallel or i == 0 else [i - 1])
                if any(expected[d] != "succeeded" for d in waits):
                    expected.append("skipped")
                else:
                    expected.append("failed" if fails[i] else "succeeded")
            ending = frames[-2]
            assert [c["status"] for c in ending.data["children"]] == expected, children
            assert ending.event == ("complete" if set(expected) == {"succeeded"} else "error")


async def test_a_webhook_tells_how_each_child_ended(make_settings: Any) -> None:
    hooks = {"webhook_allow_private": True, "webhook_poll_interval_s": 0.05}
    async with (
        receiving(Receiver()) as receiver,
        run_server(make_settings(**hooks)) as srv,
        srv.client() as client,
    ):
        response = await client.post("/api/webhooks", json={"url": receiver.url})
        assert response.status_code == 201
        batch = await start(client, name="Hooked", children=[demo("a"), demo("b", fail_at=1)])
        await watch(client, batch)

        async def batch_hook() -> list[dict[str, Any]]:
            bodies = [json.loads(r.body) for r in receiver.received]
            return [b for b in bodies if b["run"]["kind"] == "batch"]

        (note,) = await wait_for(batch_hook)
    assert note["event"] == "error" and note["run"]["url"] == f"/api/batches/{batch['id']}"
    outcome = note["run"]["result"]
    assert [c["status"] for c in outcome["children"]] == ["succeeded", "failed"]
    assert outcome["counts"]["failed"] == 1


async def test_an_admin_reset_ends_the_batch_through_its_children(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Reset", children=[demo("a", items=400, delay_ms=20),
                                                            demo("b")])  # fmt: skip

        async def running() -> bool:
            return bool((await show(client, batch["id"]))["children"][0]["percentage"] > 20)

        await wait_for(running)
        reset = await client.post("/api/admin/tenants/acme/reset")
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
    assert reset.status_code == 200 and reset.json()["reset_count"] == 1, "the child, not the batch"
    assert frames[-2].event == "error"
    check_counts(frames, 2)
    assert statuses(done) == ["failed", "skipped"]
    assert "administrator reset" in done["children"][0]["reason"]


async def test_two_tabs_resuming_at_once_run_each_child_once(server: Server) -> None:
    async with server.client() as tab_one, server.client() as tab_two:
        slow_failure = demo("b", items=25, delay_ms=20, fail_at=25)  # fails after 0.5 s
        batch = await start(tab_one, name="Twice", children=[demo("a"), slow_failure])
        first = await watch(tab_one, batch)
        url = f"/api/batches/{batch['id']}/resume"
        answers = await asyncio.gather(tab_one.post(url), tab_two.post(url))
        second = await watch(tab_one, batch, after=first[-2].seq)
        done = await show(tab_one, batch["id"])
        runs = (await tab_one.get("/api/runs?in_batch=true")).json()["data"]
    assert sorted(a.status_code for a in answers) == [202, 409]
    assert second[-2].event == "error", "b fails again: its params did not change"
    check_counts(second, 2)
    assert statuses(done) == ["succeeded", "failed"]
    assert len(runs) == 3, "a once; b's first run, then one new run (demo cannot resume)"


async def test_a_child_is_resumed_through_its_batch_but_may_be_cancelled_alone(
    server: Server,
) -> None:
    async with server.client() as client:
        batch = await start(client, name="Direct", children=[demo("a", fail_at=1), demo("b")])
        await watch(client, batch)
        failed = await show(client, batch["id"])
        direct = await client.post(f"/api/runs/{failed['children'][0]['run_id']}/resume")
        second = await start(client, name="Cancel one",
                             children=[demo("c", items=400, delay_ms=20), demo("d")])  # fmt: skip

        async def running() -> bool:
            return bool((await show(client, second["id"]))["children"][0]["percentage"] > 20)

        await wait_for(running)
        alone = await client.post(f"/api/runs/{second['children'][0]['run_id']}/cancel")
        frames = await watch(client, second)
        cancelled = await show(client, second["id"])
    assert direct.status_code == 409 and direct.json()["error"]["code"] == "in_batch"
    assert direct.json()["error"]["batch_id"] == batch["id"]
    assert alone.status_code == 202 and frames[-2].event == "cancelled"
    assert statuses(cancelled) == ["cancelled", "skipped"]
    assert (
        cancelled["children"][1]["reason"]
        == "skipped: it waits for child 0 (c), which was cancelled"
    )


async def test_a_batch_is_never_listed_as_a_run_even_by_its_kind(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Hidden", children=[demo("a")])
        await watch(client, batch)
        by_kind = (await client.get("/api/runs?kind=batch")).json()["data"]
    assert by_kind == []


async def test_a_kind_only_an_admin_may_start_is_refused_to_members_everywhere(
    server: Server,
) -> None:
    lock = {"kind": "period_lock", "params": {"year": 2030, "month": 2}}
    async with server.client("acme-member") as member, server.client() as admin:
        kinds = {k["name"]: k for k in (await member.get("/api/kinds")).json()["data"]}
        as_run = await member.post("/api/runs", json=lock)
        as_child = await member.post("/api/batches", json={"name": "x", "children": [lock]})
        batch = await start(admin, name="Admin's", children=[{**lock, "params": {"year": 2030,
                            "month": 3}}, demo("a", fail_at=1)])  # fmt: skip
        await watch(admin, batch)
        member_resume = await member.post(f"/api/batches/{batch['id']}/resume")
        periods = [p["period"] for p in (await admin.get("/api/periods")).json()["data"]]
    assert kinds["period_lock"]["admin_only"] is True and kinds["demo"]["admin_only"] is False
    assert [r.status_code for r in (as_run, as_child, member_resume)] == [403, 403, 403]
    assert periods == ["2030-03"], "only the admin's batch locked a month"
    assert batch["admin_only"] is True, "the page shows Resume to admins only"


async def test_a_weight_no_float_holds_is_a_422_not_a_500(server: Server) -> None:
    async with server.client() as client:
        response = await client.post(
            "/api/batches", json={"name": "x", "children": [{**demo("a"), "weight": 10**400}]}
        )
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["children[0].weight"]


async def test_a_failed_batch_ends_where_its_children_stopped(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Where", parallel=True, children=[
            demo("p", items=10, delay_ms=30, fail_at=9), demo("q", items=2, delay_ms=5),
        ])  # fmt: skip
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
    p, q = done["children"]
    expected = round((p["percentage"] + 100.0) / 2, 1)  # a failed child counts where it stopped
    assert q["status"] == "succeeded" and p["status"] == "failed"
    assert done["percentage"] == frames[-2].data["percentage"] == expected


async def test_a_cancel_ends_the_queued_children_in_its_own_answer(make_settings: Any) -> None:
    async with run_server(make_settings(job_concurrency=2)) as srv, srv.client() as client:
        children = [demo(f"c{i}", items=300, delay_ms=20) for i in range(6)]
        batch = await start(client, name="Queued", parallel=True, children=children)

        async def two_running() -> bool:
            runs = [await run_status(client, c["run_id"]) for c in batch["children"]]
            return sum(r["status"] == "running" for r in runs) == 2

        await wait_for(two_running)
        answer = await client.post(f"/api/batches/{batch['id']}/cancel")
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
    assert statuses(answer.json()["data"]).count("cancelled") == 4, "the queued: at once"
    assert frames[-2].event == "cancelled" and statuses(done) == ["cancelled"] * 6


async def test_a_child_whose_kind_fails_to_prepare_fails_alone(make_settings: Any) -> None:
    from pydantic import BaseModel

    from progress_sse.jobs.kinds import JobKind
    from progress_sse.runs.progress import StepSpec

    class Tables(BaseModel):
        n: int = 1

    def steps(params: Tables) -> list[StepSpec]:
        if params.n == 13:
            raise RuntimeError("a bug in the kind's steps")
        return [StepSpec("only", 0, 100)]

    async def run(_ctx: Any, _params: Tables) -> dict[str, Any]:
        return {}

    steppy = JobKind(name="steppy", params=Tables, run=run, steps=steps)
    async with run_server(make_settings(), jobs=[steppy]) as srv, srv.client() as client:
        batch = await start(client, name="Buggy", children=[
            demo("x"), {"name": "s", "kind": "steppy", "params": {"n": 13}},
        ])  # fmt: skip
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
        first = await run_status(client, done["children"][0]["run_id"])
    assert first["status"] == "completed", "the child that ended is not taken down with it"
    assert statuses(done) == ["succeeded", "failed"] and frames[-2].event == "error"
    assert "its kind failed to prepare it" in done["children"][1]["reason"]


async def test_a_resume_counts_as_a_start(make_settings: Any) -> None:
    settings = make_settings(rate_limit_starts="2/minute")
    async with run_server(settings) as srv, srv.client() as client:
        batch = await start(client, name="Limited", children=[demo("a", fail_at=1)])
        await watch(client, batch)
        first = await client.post(f"/api/batches/{batch['id']}/resume")
        await watch(client, batch, after=(await show(client, batch["id"]))["seq"] - 1)
        second = await client.post(f"/api/batches/{batch['id']}/resume")
    assert first.status_code == 202 and second.status_code == 429


async def test_a_child_that_fails_while_others_run_says_why_at_once(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Why", parallel=True, children=[
            demo("f", fail_at=1), demo("s", items=30, delay_ms=20),
        ])  # fmt: skip
        frames = await watch(client, batch)
    moved = [f.data["child"] for f in frames if f.event == "message" and f.data["child"]]
    failed = [c for c in moved if c["name"] == "f" and c["status"] == "failed"]
    assert failed and "Item 1 could not be processed" in failed[0]["reason"]
    assert frames[-2].event == "error", "s completed; f's failure still fails the batch"
