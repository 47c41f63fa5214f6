"""`progress-sse mail …` and the mail dead letters from the command line, through the real
entry point, on the database a server with a real SMTP server on loopback uses."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.test_cli import cli as cli_blocking
from tests.integration.test_mail import all_in, finished_run
from tests.mailbox import Mailbox, free_port, mail_settings, smtp_server
from tests.support import run_server, wait_for


async def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command in a thread: the server in this loop must go on (on SQLite, a loop
    blocked inside a write transaction would hold the one write lock)."""
    return await asyncio.to_thread(cli_blocking, *args, env=env, cwd=cwd)


async def test_recipients_and_their_dead_letters_from_the_command_line(
    make_settings: Any, tmp_path: Path
) -> None:
    port = free_port()  # the SMTP server is down at first
    settings = make_settings(**mail_settings(port, webhook_attempts=1))
    env = {"PROGRESS_SSE_DATABASE_URL": settings.database_url}
    mailing = {"PROGRESS_SSE_SMTP_HOST": "127.0.0.1", "PROGRESS_SSE_MAIL_FROM": "p@example.com"}
    async with run_server(settings) as srv:  # the tenants exist from here on
        added = await cli("mail", "add", "alice@example.com", "--tenant", "acme",
                    "--events", "complete,error", env=env, cwd=tmp_path)  # fmt: skip
        quiet = await cli("mail", "add", "bob@example.com", "--tenant", "acme", "--json",
                    env=env | mailing, cwd=tmp_path)  # fmt: skip
        refused = await cli("mail", "add", "Eve <eve@example.com>", "--tenant", "acme",
                      env=env, cwd=tmp_path)  # fmt: skip
        bad_events = await cli("mail", "add", "carol@example.com", "--tenant", "acme",
                         "--events", "done", env=env, cwd=tmp_path)  # fmt: skip
        bob = json.loads(quiet.stdout)
        updated = await cli("mail", "update", str(bob["id"]), "--events", "error",
                      "--events", "stale", env=env, cwd=tmp_path)  # fmt: skip
        listed = json.loads((await cli("mail", "list", "--json", env=env, cwd=tmp_path)).stdout)
        async with srv.client() as acme:
            await finished_run(acme)
            await wait_for(lambda: all_in("dead", 1)(srv))  # alice's: bob wants no `complete`
        failed = await cli("notifications", "failed", "--channel", "mail", env=env, cwd=tmp_path)
        letter = json.loads(failed.stdout.splitlines()[0])
        mailbox = Mailbox()
        async with smtp_server(mailbox, port):
            retried = await cli("notifications", "retry", str(letter["id"]), env=env, cwd=tmp_path)
            await wait_for(lambda: all_in("delivered", 1)(srv))
        removed = await cli("mail", "remove", str(bob["id"]), env=env, cwd=tmp_path)
        missing = await cli("mail", "remove", str(bob["id"]), env=env, cwd=tmp_path)
        left = json.loads((await cli("mail", "list", "--json", env=env, cwd=tmp_path)).stdout)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().endswith("alice@example.com (complete, error)")
    assert "PROGRESS_SSE_SMTP_HOST is unset" in added.stderr, "said where it matters"
    assert quiet.returncode == 0 and quiet.stderr == "" and bob["events"][0] == "complete"
    for answer in (refused, bad_events):
        assert answer.returncode == 1 and answer.stderr.startswith("error: "), answer.stderr
        assert "Traceback" not in answer.stderr
    assert updated.returncode == 0 and updated.stdout.strip().endswith("(error, stale)")
    assert [(r["address"], r["events"]) for r in listed] == [
        ("alice@example.com", ["complete", "error"]),
        ("bob@example.com", ["error", "stale"]),
    ]
    assert failed.stdout.strip().splitlines()[-1] == "total: 1"
    assert letter["channel"] == "mail" and letter["url"] == "mailto:alice@example.com"
    assert retried.returncode == 0 and [d.rcpt_tos for d in mailbox.received] == [
        ["alice@example.com"]
    ]
    assert removed.returncode == 0 and missing.returncode == 1
    assert "No such mail recipient" in missing.stderr
    assert [r["address"] for r in left] == ["alice@example.com"]
