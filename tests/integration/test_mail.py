"""Mail of run and batch outcomes, through a real SMTP server on loopback (aiosmtpd):
delivery as text and HTML, a server that refuses then accepts, a server that is down
(a dead letter, retried once it is up), hostile run data, and the recipients' API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from progress_sse.errors import JobError
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind, StepSpec
from progress_sse.runs.store import NewRun
from progress_sse.webhooks.models import MAIL, Notification
from tests.integration.test_webhooks import finished_run
from tests.mailbox import Mailbox, free_port, mail_settings, smtp_server
from tests.support import Server, collect, run_server, wait_for

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
HOSTILE = "x\r\nBcc: evil@example.com"


async def add_recipient(
    client: httpx.AsyncClient, address: str, events: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"address": address}
    if events is not None:
        body["events"] = events
    response = await client.post("/api/mail/recipients", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def mail_rows(server: Server) -> list[Notification]:
    async with server.services.sessions() as session:
        query = sa.select(Notification).where(Notification.channel == MAIL)
        return list((await session.execute(query.order_by(Notification.id))).scalars())


def all_in(status: str, count: int) -> Any:
    async def check(server: Server) -> bool:
        rows = await mail_rows(server)
        return len(rows) == count and all(row.status == status for row in rows)

    return check


async def test_an_outcome_is_mailed_as_text_and_html_to_the_recipients_that_chose_it(
    make_settings: Any,
) -> None:
    mailbox = Mailbox()
    async with (
        smtp_server(mailbox) as port,
        run_server(make_settings(**mail_settings(port))) as srv,
        srv.client() as acme,
        srv.client("globex") as globex,
    ):
        added = await add_recipient(acme, ALICE)
        await add_recipient(acme, BOB, ["error", "stale"])
        await add_recipient(globex, CAROL)
        ok = await finished_run(acme, lock="ok")
        failed = await finished_run(acme, lock="bad", fail_at=1)
        await wait_for(lambda: all_in("delivered", 3)(srv))
        rows = await mail_rows(srv)
    assert added["events"] == ["complete", "error", "cancelled", "stale"]
    assert added["address"] == ALICE and added["created_by"] == srv.keys["acme"][:10]
    assert mailbox.to(CAROL) == [], "another tenant's runs are not mailed to globex"
    assert [d.message["X-Progress-SSE-Event"] for d in mailbox.to(BOB)] == ["error"]
    assert all(d.rcpt_tos in ([ALICE], [BOB]) for d in mailbox.received)
    done = next(d for d in mailbox.to(ALICE) if d.message["X-Progress-SSE-Run"] == ok)
    message, text, html = done.message, done.text(), done.html()
    assert done.mail_from == "progress@example.com" and message["To"] == ALICE
    assert message["Subject"] == "Demo: completed"
    row = next(r for r in rows if r.run_id == ok and r.url == f"mailto:{ALICE}")
    assert message["Message-ID"] == f"<{row.id}@example.com>" and row.attempts == 1
    assert f"Started by:  {srv.keys['acme'][:10]}" in text
    assert "Summary:     Processed 2 items" in text
    assert f"Run:         https://progress.example.com/api/runs/{ok}" in text
    assert f"Report:      https://progress.example.com/api/runs/{ok}/report" in text
    assert f'<a href="https://progress.example.com/api/runs/{ok}">' in html
    broke = next(d for d in mailbox.to(ALICE) if d.message["X-Progress-SSE-Run"] == failed)
    assert broke.message["Subject"] == "Demo: failed"
    assert "Error:       Item 1 could not be processed (demo failure). (demo_failure)" in (
        broke.text()
    )


async def test_a_server_that_refuses_then_accepts_gets_the_mail_once(make_settings: Any) -> None:
    mailbox = Mailbox(refuse_first=2)
    async with (
        smtp_server(mailbox) as port,
        run_server(make_settings(**mail_settings(port))) as srv,
        srv.client() as acme,
    ):
        await add_recipient(acme, ALICE, ["complete"])
        await finished_run(acme)
        await wait_for(lambda: all_in("delivered", 1)(srv))
        (row,) = await mail_rows(srv)
    assert mailbox.refused == 2 and len(mailbox.received) == 1
    assert row.attempts == 3 and row.last_status_code == 250


async def test_a_server_that_is_down_leaves_a_dead_letter_that_a_retry_delivers(
    make_settings: Any,
) -> None:
    port = free_port()  # nothing listens here yet
    settings = make_settings(**mail_settings(port, webhook_attempts=2))
    async with run_server(settings) as srv, srv.client() as acme:
        await add_recipient(acme, ALICE)
        run_id = await finished_run(acme)
        await wait_for(lambda: all_in("dead", 1)(srv))
        letters = (await acme.get("/api/notifications/failed?channel=mail")).json()
        webhook_letters = (await acme.get("/api/notifications/failed?channel=webhook")).json()
        mailbox = Mailbox()
        async with smtp_server(mailbox, port):
            retried = await acme.post(f"/api/notifications/failed/{letters['data'][0]['id']}/retry")
            await wait_for(lambda: all_in("delivered", 1)(srv))
    (letter,) = letters["data"]
    assert letters["total"] == 1 and webhook_letters["total"] == 0
    assert letter["channel"] == "mail" and letter["url"] == f"mailto:{ALICE}"
    assert letter["run_id"] == run_id and letter["attempts"] == 2
    assert letter["last_error"].startswith("SMTP") and letter["last_status_code"] is None
    assert retried.status_code == 202
    assert [d.rcpt_tos for d in mailbox.received] == [[ALICE]]
    assert mailbox.received[0].message["Message-ID"] == f"<{letter['delivery_id']}@example.com>"


class Hostile(BaseModel):
    label: str = ""


async def hostile_job(ctx: JobContext, params: Hostile) -> dict[str, Any]:
    raise JobError(f"failed: {HOSTILE}\u2028Cc: evil2@example.com", code="hostile")


HOSTILE_KIND = JobKind(
    name="hostile", params=Hostile, run=hostile_job, title=f"Hostile {HOSTILE}",
    steps=(StepSpec("only", 0, 100),),
)  # fmt: skip


async def test_hostile_run_data_leaves_exactly_the_intended_recipient_and_headers(
    make_settings: Any,
) -> None:
    mailbox = Mailbox()
    async with smtp_server(mailbox) as port:
        settings = make_settings(**mail_settings(port))
        async with run_server(settings, jobs=[HOSTILE_KIND]) as srv, srv.client() as acme:
            await add_recipient(acme, ALICE)
            hostile = NewRun(
                tenant_id="acme", kind="hostile", params={"label": HOSTILE}, lock_key=None,
                idempotency_key=None, created_by=HOSTILE, steps=HOSTILE_KIND.steps,
            )  # fmt: skip
            run, _ = await srv.services.store.create_run(hostile)
            await wait_for(lambda: all_in("delivered", 1)(srv))
    (delivered,) = mailbox.received
    message = delivered.message
    assert delivered.rcpt_tos == [ALICE], "the envelope names the recipient, nothing else"
    assert list(message.keys()) == [
        "From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted",
        "X-Progress-SSE-Event", "X-Progress-SSE-Run", "MIME-Version", "Content-Type",
    ]  # fmt: skip
    assert message.get_all("To") == [ALICE] and message.get_all("Bcc") is None
    assert message["Subject"] == (
        "Hostile x Bcc: evil@example.com · x Bcc: evil@example.com: failed"
    )
    assert message["X-Progress-SSE-Run"] == run.id
    assert "Started by:  x Bcc: evil@example.com" in delivered.text()
    assert "evil2@example.com" in delivered.text() and "\u2028" not in delivered.text()


async def test_a_batch_mail_names_the_batch_and_how_each_child_ended(make_settings: Any) -> None:
    mailbox = Mailbox()
    children = [
        {"name": "first", "kind": "demo", "params": {"items": 1, "delay_ms": 0, "lock": "a"}},
        {"name": "second", "kind": "demo",
         "params": {"items": 1, "delay_ms": 0, "lock": "b", "fail_at": 1}},
    ]  # fmt: skip
    async with (
        smtp_server(mailbox) as port,
        run_server(make_settings(**mail_settings(port))) as srv,
        srv.client() as acme,
    ):
        await add_recipient(acme, ALICE, ["error"])
        answer = await acme.post("/api/batches", json={"name": "Close", "children": children})
        batch = answer.json()["data"]
        await collect(acme, batch["events_url"])
        await wait_for(lambda: all_in("delivered", 2)(srv))  # the batch and its child
    (mailed,) = [d for d in mailbox.received if d.message["X-Progress-SSE-Run"] == batch["id"]]
    text = mailed.text()
    assert mailed.message["Subject"] == "Batch Close: failed"
    assert "1. first (demo): succeeded" in text and "2. second (demo): failed" in text
    assert f"Batch:       https://progress.example.com/api/batches/{batch['id']}" in text


async def test_without_an_smtp_host_nothing_is_queued_and_the_api_says_so(
    make_settings: Any,
) -> None:
    async with run_server(make_settings()) as srv, srv.client() as acme:
        added = await acme.post("/api/mail/recipients", json={"address": ALICE})
        await finished_run(acme)
        listed = (await acme.get("/api/mail/recipients")).json()
        rows = await mail_rows(srv)
    assert added.status_code == 201 and added.json()["mail_configured"] is False
    assert "PROGRESS_SSE_SMTP_HOST" in added.json()["warning"]
    assert listed["mail_configured"] is False and [r["address"] for r in listed["data"]] == [ALICE]
    assert rows == [], "no mail piles up where none can be sent"


async def test_mail_queued_where_nobody_can_send_it_becomes_a_dead_letter_that_says_why(
    make_settings: Any,
) -> None:
    queue_only = make_settings(**mail_settings(free_port(), webhook_delivery=False))
    async with run_server(queue_only) as first, first.client() as acme:
        await add_recipient(acme, ALICE)
        await finished_run(acme)
    async with run_server(make_settings(), keys=False) as second:
        await wait_for(lambda: all_in("dead", 1)(second))
        letters, _ = await second.services.outbox.failed("acme", retried=None, limit=5)
    assert "mail is not configured in this process" in str(letters[0].last_error)


async def test_recipients_are_an_admin_s_and_a_tenant_s_own(make_settings: Any) -> None:
    async with (
        run_server(make_settings()) as srv,
        srv.client() as acme,
        srv.client("acme-member") as member,
        srv.client("globex") as globex,
    ):
        mine = await add_recipient(acme, "Alice@EXAMPLE.com", ["complete"])
        path = f"/api/mail/recipients/{mine['id']}"
        same = await acme.post("/api/mail/recipients", json={"address": "alice@example.com"})
        member_answers = [
            await member.get("/api/mail/recipients"),
            await member.post("/api/mail/recipients", json={"address": BOB}),
            await member.patch(path, json={"events": ["error"]}),
            await member.delete(path),
        ]
        theirs = [
            (await globex.get("/api/mail/recipients")).json()["data"],
            await globex.patch(path, json={"events": ["error"]}),
            await globex.delete(path),
        ]
        changed = await acme.patch(path, json={"events": ["error", "error", "stale"]})
        webhook_route = await acme.delete(f"/api/webhooks/{mine['id']}")
        removed = await acme.delete(path)
        again = await acme.delete(path)
        left = (await acme.get("/api/mail/recipients")).json()["data"]
    assert mine["address"] == "Alice@example.com"
    assert same.status_code == 409 and same.json()["error"]["code"] == "recipient_exists"
    assert [a.status_code for a in member_answers] == [403, 403, 403, 403]
    assert theirs[0] == [] and [a.status_code for a in theirs[1:]] == [404, 404]
    assert theirs[1].json()["error"]["code"] == "recipient_not_found"
    assert changed.status_code == 200 and changed.json()["data"]["events"] == ["error", "stale"]
    assert webhook_route.status_code == 404, "a recipient is not a webhook"
    assert removed.status_code == 200 and again.status_code == 404 and left == []


BAD_BODIES: list[Any] = [
    {"address": "Alice <alice@example.com>"},
    {"address": f"alice@example.com{HOSTILE}"},
    {"address": "alice@example.com, bob@example.com"},
    {"address": "a" * 300 + "@example.com"},
    {"address": ""},
    {"address": None},
    {"address": 7},
    {"address": ["alice@example.com"]},
    {"address": {"x": 1}},
    {},
    {"address": ALICE, "events": "complete"},
    {"address": ALICE, "events": []},
    {"address": ALICE, "events": ["done"]},
    {"address": ALICE, "events": [1]},
    {"address": ALICE, "events": None},
    {"address": ALICE, "bcc": BOB},
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_bad_recipient_input_is_422_naming_the_field(server: Server, body: Any) -> None:
    async with server.client() as acme:
        answer = await acme.post("/api/mail/recipients", json=body)
        listed = (await acme.get("/api/mail/recipients")).json()["data"]
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error" and error["fields"], error
    assert listed == [], "nothing was written"


async def test_hostile_bodies_and_paths_never_get_a_500(server: Server) -> None:
    async with server.client() as acme:
        mine = await add_recipient(acme, ALICE)
        path = f"/api/mail/recipients/{mine['id']}"
        answers = {
            "array": await acme.post("/api/mail/recipients", json=[ALICE]),
            "not json": await acme.post("/api/mail/recipients", content=b"{address"),
            "huge": await acme.post("/api/mail/recipients", json={"address": "a" * 100_000}),
            "patch no events": await acme.patch(path, json={}),
            "patch bad events": await acme.patch(path, json={"events": {"a": 1}}),
            "patch unknown": await acme.patch(path, json={"events": ["error"], "address": BOB}),
            "bad id": await acme.delete("/api/mail/recipients/1e3"),
            "huge id": await acme.delete("/api/mail/recipients/" + "9" * 40),
            "bad channel": await acme.get("/api/notifications/failed?channel=pigeon"),
        }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "array": 400, "not json": 400, "huge": 413, "patch no events": 422,
        "patch bad events": 422, "patch unknown": 422, "bad id": 404, "huge id": 404,
        "bad channel": 422,
    }  # fmt: skip
