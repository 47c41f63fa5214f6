"""The command line through its real entry point: migrate, keys, demo, serve --demo."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.requests import Request

from progress_sse.errors import Unauthorized
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.web.security.auth import KeyUsage, Role, authenticate
from tests.support import collect

CLI = str(Path(sys.executable).parent / "progress-sse")
STEP_STARTED = re.compile(r"\s*[\d.]+% (\w+) in_progress: ")  # a piped watch's step line


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=os.environ | env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> dict[str, str]:
    return {"PROGRESS_SSE_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db"}


@pytest.fixture
def cli_env(backend: str, fresh_sqlite: dict[str, str], db_urls: dict[str, str]) -> dict[str, str]:
    """A brand-new SQLite file, or the (truncated) PostgreSQL test database."""
    if backend == "sqlite":
        return fresh_sqlite
    return {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"]}


async def test_db_upgrade_then_keys_create_prints_a_working_key(
    cli_env: dict[str, str], backend: str, tmp_path: Path
) -> None:
    upgraded = cli("db", "upgrade", env=cli_env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    if backend == "sqlite":
        assert (tmp_path / "fresh.db").exists() and (tmp_path / "fresh_app.db").exists()
    made = cli("keys", "create", "--tenant", "acme", "--role", "member", env=cli_env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("pss_")

    settings = Settings(database_url=cli_env["PROGRESS_SSE_DATABASE_URL"])
    engine = db.create_engine(settings.database_url, settings)
    try:
        scope = {"type": "http", "headers": [(b"authorization", f"Bearer {key}".encode())]}
        who = await authenticate(db.sessionmaker(engine), Request(scope))
        async with engine.connect() as conn:
            stored = (await conn.exec_driver_sql("SELECT key_hash FROM api_keys")).scalars().all()
    finally:
        await engine.dispose()
    assert who.tenant_id == "acme" and who.role is Role.MEMBER
    assert key not in stored and len(stored) == 1, "only a hash of the key is stored"


async def test_keys_list_shows_last_use_and_revoke_ends_a_key_at_once(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli("db", "upgrade", env=cli_env, cwd=tmp_path)
    made = cli("keys", "create", "--tenant", "acme", "--name", "ci bot", env=cli_env, cwd=tmp_path)
    key = made.stdout.strip().splitlines()[-1]
    settings = Settings(database_url=cli_env["PROGRESS_SSE_DATABASE_URL"])
    engine = db.create_engine(settings.database_url, settings)
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {key}".encode())]}
    try:
        await KeyUsage(db.sessionmaker(engine)).touch(
            (await authenticate(db.sessionmaker(engine), Request(scope))).key_id
        )
        listed = cli("keys", "list", "--tenant", "acme", env=cli_env, cwd=tmp_path)
        as_json = cli("keys", "list", "--json", env=cli_env, cwd=tmp_path)
        revoked = cli("keys", "revoke", key[:10], env=cli_env, cwd=tmp_path)
        again = cli("keys", "list", env=cli_env, cwd=tmp_path)
        unknown = cli("keys", "revoke", "pss_nope", env=cli_env, cwd=tmp_path)
        with pytest.raises(Unauthorized):
            await authenticate(db.sessionmaker(engine), Request(scope))
    finally:
        await engine.dispose()
    header, row = listed.stdout.strip().splitlines()
    cells = dict(zip(header.split("\t"), row.split("\t"), strict=True))
    assert cells["prefix"] == key[:10] and cells["name"] == "ci bot"
    assert cells["last_used"] != "-" and cells["revoked"] == "-"
    assert key not in listed.stdout, "the key itself is never shown again"
    assert [k["prefix"] for k in json.loads(as_json.stdout)] == [key[:10]]
    assert revoked.returncode == 0 and key[:10] in revoked.stdout
    assert again.stdout.strip().splitlines()[1].split("\t")[-1] != "-"
    assert unknown.returncode == 1 and "No API key matches" in unknown.stderr


async def test_webhooks_and_failed_notifications_from_the_command_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli("db", "upgrade", env=cli_env, cwd=tmp_path)
    cli("keys", "create", "--tenant", "acme", env=cli_env, cwd=tmp_path)
    url = "http://127.0.0.1:9/hook"
    refused = cli("webhooks", "add", "--tenant", "acme", "--url", url, env=cli_env, cwd=tmp_path)
    private = cli_env | {"PROGRESS_SSE_WEBHOOK_ALLOW_PRIVATE": "true"}
    added = cli(
        "webhooks", "add", "--tenant", "acme", "--url", url, "--event", "error",
        env=private, cwd=tmp_path,
    )  # fmt: skip
    listed = cli("webhooks", "list", env=cli_env, cwd=tmp_path)
    hook_id = int(listed.stdout.splitlines()[1].split("\t")[0])
    letter_id = await _a_dead_letter(cli_env["PROGRESS_SSE_DATABASE_URL"], hook_id)
    failed = cli("notifications", "failed", "--not-retried", env=cli_env, cwd=tmp_path)
    retried = cli("notifications", "retry", str(letter_id), env=cli_env, cwd=tmp_path)
    twice = cli("notifications", "retry", str(letter_id), env=cli_env, cwd=tmp_path)
    hooks_json = cli("webhooks", "list", "--json", env=cli_env, cwd=tmp_path)
    removed = cli("webhooks", "remove", str(hook_id), env=cli_env, cwd=tmp_path)
    gone = cli("webhooks", "list", env=cli_env, cwd=tmp_path)
    assert refused.returncode == 1 and "non-public address" in refused.stderr
    assert added.returncode == 0 and added.stdout.strip().splitlines()[-1].startswith("whsec_")
    assert listed.stdout.splitlines()[1].endswith(f"acme\terror\t{url}")
    assert "whsec_" not in listed.stdout
    assert failed.stdout.strip().splitlines()[-1] == "total: 1"
    assert '"last_status_code": 503' in failed.stdout
    assert retried.returncode == 0 and "queued delivery" in retried.stdout
    assert twice.returncode == 1 and "retried already" in twice.stderr
    assert json.loads(hooks_json.stdout)[0]["events"] == ["error"]
    assert removed.returncode == 0 and len(gone.stdout.strip().splitlines()) == 1


async def _a_dead_letter(url: str, hook_id: int) -> int:
    from progress_sse.runs.events import utc_now
    from progress_sse.webhooks.models import Notification
    from progress_sse.webhooks.outbox import Outbox

    settings = Settings(database_url=url)
    engine = db.create_engine(settings.database_url, settings)
    try:
        sessions = db.sessionmaker(engine)
        note = Notification(
            id="d1", tenant_id="acme", webhook_id=hook_id, run_id="r1", event="error",
            url="http://127.0.0.1:9/hook", body="{}", status="pending", attempts=0,
            next_attempt_at=utc_now(), created_at=utc_now(),
        )  # fmt: skip
        async with sessions.begin() as session:
            session.add(note)
        outbox = Outbox(sessions)
        await outbox.dead(note, 4, "HTTP 503", 503)
        rows, _ = await outbox.failed("acme", retried=False, limit=1)
        return rows[0].id
    finally:
        await engine.dispose()


def test_bad_input_is_one_clear_line_and_a_non_zero_exit(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli("db", "upgrade", env=cli_env, cwd=tmp_path)
    result = cli("keys", "create", "--tenant", "bad tenant!", env=cli_env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
    wrong = cli("keys", "create", "--tenant", "a", "--role", "root", env=cli_env, cwd=tmp_path)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serve_demo_on_a_fresh_folder_runs_and_streams_a_job(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    """What the README's first command does: migrate, seed, print a key, serve."""
    import httpx

    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = await asyncio.create_subprocess_exec(
            CLI, "serve", "--demo", "--port", str(port),
            env=os.environ | fresh_sqlite, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        key, text = None, ""
        for _ in range(300):  # bounded: 30 s
            text = log_path.read_text()
            match = re.search(r"^\s+(pss_\S+)$", text, re.M)
            if match and "Uvicorn running" in text:
                key = match.group(1)
                break
            await asyncio.sleep(0.1)
        assert key, text
        await the_printed_watch_command_shows_the_run_live(text, tmp_path)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            seeded = (await client.get("/api/runs")).json()["data"]
            kinds = sorted(r["kind"] for r in seeded)
            assert kinds == ["asset_depreciation", "demo", "demo"], "seeded, and the one watched"
            opening = next(r for r in seeded if r["kind"] == "asset_depreciation")
            await collect(client, f"/api/runs/{opening['id']}/events")  # the books are open
            today = datetime.now(UTC).date()
            month = {"year": today.year, "month": today.month}  # the quick start, verbatim
            started = await client.post(
                "/api/runs", json={"kind": "asset_depreciation", "params": month}
            )
            assert started.status_code == 202, started.text
            frames = await collect(client, started.json()["events_url"])
        assert [f.event for f in frames][-2:] == ["complete", "end"]
        assert frames[-2].data["result"]["earlier_unposted"] is None, "posted in order"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


async def the_printed_watch_command_shows_the_run_live(printed: str, cwd: Path) -> None:
    """The first thing `serve --demo` suggests, pasted as printed: a run streamed live, each
    step as it starts, then the result; and the replay and the queued run told truly."""
    lines = printed.splitlines()
    at = lines.index("In another terminal, start a run and watch it live:")
    exported, command = lines[at + 1].strip(), lines[at + 2].strip()
    assert exported.startswith("export ") and command.endswith("--watch")
    env = dict(pair.split("=", 1) for pair in exported.removeprefix("export ").split())
    proc = await asyncio.create_subprocess_exec(
        *shlex.split(command), env=os.environ | env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    shown = out.decode().splitlines()
    assert proc.returncode == 0, err.decode()
    started = [m.group(1) for m in map(STEP_STARTED.match, shown) if m]
    assert started[-2:] == ["process", "finalize"], "steps seen as they start, not after"
    assert shown[-2:] == ["completed: Completed.", "  Processed 60 items (total value 73,810)."]
    assert "-H 'Last-Event-ID: 0'" in printed, "how to replay a run that already ended"
    assert "A demo run is queued and runs as the server starts" in printed


def occupied_port() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


def test_serve_on_a_taken_port_says_so_before_seeding_anything(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    with occupied_port() as taken:
        port = taken.getsockname()[1]
        result = cli("serve", "--demo", "--port", str(port), env=fresh_sqlite, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: port {port} on 127.0.0.1 is already in use (another server?); choose another "
        f"with --port {port + 1} or PROGRESS_SSE_PORT={port + 1}\n"
    )
    assert "pss_" not in result.stdout + result.stderr, "no key for a server that never ran"
    assert not (tmp_path / "fresh.db").exists(), "nothing migrated or seeded"


def test_an_ipv6_host_is_printed_as_a_url_that_pastes() -> None:
    assert Settings(host="::1", port=8001).served_url == "http://[::1]:8001"
    assert Settings(host="127.0.0.1").served_url == "http://127.0.0.1:8000"


def test_a_books_currency_that_is_not_iso_4217_stops_every_command(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    env = fresh_sqlite | {"PROGRESS_SSE_ACCOUNTING_CURRENCY": "usd"}
    for command in (("serve", "--port", str(free_port())), ("worker",)):
        result = cli(*command, env=env, cwd=tmp_path)
        assert result.returncode == 1 and "PROGRESS_SSE_ACCOUNTING_CURRENCY" in result.stderr
        assert "Traceback" not in result.stderr


def test_serve_on_a_database_never_migrated_says_what_to_run(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    """As on PostgreSQL, which `serve` does not migrate unless told to."""
    port = str(free_port())
    for args in (("serve", "--no-migrate", "--port", port),
                 ("serve", "--no-migrate", "--demo", "--port", port), ("worker",)):  # fmt: skip
        result = cli(*args, env=fresh_sqlite, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("error: the database ")
        assert result.stderr.endswith(
            "has no progress-sse tables yet: run `progress-sse db upgrade` first "
            "(or `progress-sse serve --migrate`)\n"
        )
        assert "Traceback" not in result.stderr and "pss_" not in result.stderr


async def test_serve_demo_without_jobs_says_the_demo_run_waits_for_a_worker(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    from progress_sse.cli import admin
    from progress_sse.cli.operator import demo_lines

    settings = Settings(database_url=fresh_sqlite["PROGRESS_SSE_DATABASE_URL"], run_jobs=False)
    await admin.migrate_all(settings)
    seed = await admin.seed_demo(settings, "demo", 10, ".venv/bin/progress-sse")
    text = "\n".join(demo_lines(settings, seed, ".venv/bin/progress-sse"))
    assert "runs as the server starts" not in text
    assert "stays pending until a worker runs it: `.venv/bin/progress-sse worker`" in text
    assert "PostgreSQL only" not in text, "a worker runs SQLite's jobs too"
    assert ".venv/bin/progress-sse runs start asset_depreciation -p year=" in text


async def test_periods_lock_and_unlock_from_the_command_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    from progress_sse.accounting.depreciation.periods import Period, is_locked

    cli("db", "upgrade", env=cli_env, cwd=tmp_path)
    args = ("--tenant", "acme", "--year", "2026", "--month", "3")
    locked = cli("periods", "lock", *args, env=cli_env, cwd=tmp_path)
    settings = Settings(database_url=cli_env["PROGRESS_SSE_DATABASE_URL"])
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with db.sessionmaker(engine)() as session:
            was_locked = await is_locked(session, "acme", Period(2026, 3))
        unlocked = cli("periods", "unlock", *args, "--json", env=cli_env, cwd=tmp_path)
        async with db.sessionmaker(engine)() as session:
            still_locked = await is_locked(session, "acme", Period(2026, 3))
    finally:
        await engine.dispose()
    bad = cli("periods", "lock", "--tenant", "acme", "--year", "2026", "--month", "13",
              env=cli_env, cwd=tmp_path)  # fmt: skip
    assert locked.returncode == 0 and "locked 2026-03" in locked.stdout
    assert unlocked.returncode == 0 and json.loads(unlocked.stdout)["locked"] is False
    assert (was_locked, still_locked) == (True, False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


async def test_a_month_with_a_posting_run_pending_is_not_locked_from_the_command_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    from progress_sse.runs.store import NewRun, RunStore

    cli("db", "upgrade", env=cli_env, cwd=tmp_path)
    cli("keys", "create", "--tenant", "acme", "--role", "admin", env=cli_env, cwd=tmp_path)
    settings = Settings(database_url=cli_env["PROGRESS_SSE_DATABASE_URL"])
    engine = db.create_engine(settings.database_url, settings)
    try:
        run, _ = await RunStore(db.sessionmaker(engine)).create_run(NewRun(
            tenant_id="acme", kind="asset_depreciation", params={"year": 2026, "month": 3},
            lock_key="asset_depreciation:2026-03", idempotency_key=None, created_by="test",
        ))  # fmt: skip
    finally:
        await engine.dispose()
    args = ("--tenant", "acme", "--year", "2026", "--month", "3")
    refused = cli("periods", "lock", *args, env=cli_env, cwd=tmp_path)
    other = cli("periods", "lock", "--tenant", "acme", "--year", "2026", "--month", "4",
                env=cli_env, cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"A depreciation run of 2026-03 is pending (run {run.id})" in refused.stderr
    assert other.returncode == 0


def test_demo_seed_creates_a_register_and_prints_a_key_last(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    seeded = cli(
        "demo", "seed", "--tenant", "shop", "--assets", "40", env=fresh_sqlite, cwd=tmp_path
    )
    assert seeded.returncode == 0, seeded.stderr
    assert "40 demo assets" in seeded.stdout
    assert seeded.stdout.strip().splitlines()[-1].startswith("pss_")
    again = cli("demo", "seed", "--tenant", "shop2", "--assets", "5", "--json",
                env=fresh_sqlite, cwd=tmp_path)  # fmt: skip
    migrated = cli("db", "upgrade", "--json", env=fresh_sqlite, cwd=tmp_path)
    assert json.loads(again.stdout)["key"].startswith("pss_")
    assert json.loads(again.stdout)["plugins"]["accounting"]["assets"] == 5, "the plugin seeded"
    assert len(json.loads(migrated.stdout)["migrated"]) == 2, "run store and business database"


def test_several_workers_on_sqlite_are_refused_with_a_clear_message(
    fresh_sqlite: dict[str, str], tmp_path: Path
) -> None:
    result = cli("serve", "--workers", "2", env=fresh_sqlite, cwd=tmp_path)
    assert result.returncode == 1
    assert "need PostgreSQL" in result.stderr and "Traceback" not in result.stderr


async def test_runs_resume_through_the_api(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from progress_sse.accounting.asset_import.job import ASSET_IMPORT
    from progress_sse.jobs.context import JobContext
    from tests.support import run_server, run_status, tripping

    async def crash_once(ctx: JobContext, report: dict[str, object]) -> None:
        if ctx.attempt == 1 and "message" in report:  # after the first chunk
            raise RuntimeError("simulated crash")

    async with run_server(make_settings()) as srv, srv.client() as client:
        srv.services.registry.replace(tripping(ASSET_IMPORT, crash_once))
        text = "\n".join(
            [
                "code,name,acquired_on,cost,method,life_months",
                "A-1,Desk,2024-01-01,100,straight_line,12",
            ]
        )
        started = await client.post("/api/assets/import", content=text.encode())
        run_id = started.json()["id"]
        await collect(client, f"/api/runs/{run_id}/events")
        env = {"PROGRESS_SSE_URL": srv.base_url, "PROGRESS_SSE_API_KEY": srv.keys["acme"]}
        resumed = await asyncio.to_thread(cli, "runs", "resume", run_id, env=env, cwd=tmp_path)
        await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        state = await run_status(client, run_id)
        again = await asyncio.to_thread(cli, "runs", "resume", run_id, env=env, cwd=tmp_path)
        no_key = await asyncio.to_thread(
            cli, "runs", "resume", run_id, env={"PROGRESS_SSE_URL": srv.base_url}, cwd=tmp_path
        )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {run_id}" in resumed.stdout
    assert state["status"] == "completed" and state["attempt"] == 2
    assert again.returncode == 1 and "Only a failed, cancelled or paused run" in again.stderr
    assert no_key.returncode == 1 and "API key" in no_key.stderr


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"PROGRESS_SSE_JOB_CONCURRENCY": "abc"}, "error: PROGRESS_SSE_JOB_CONCURRENCY: "),
        ({"PROGRESS_SSE_BUSINESS_POOL_SIZE": "10", "PROGRESS_SSE_JOB_CONCURRENCY": "24"},
         "error: PROGRESS_SSE_BUSINESS_POOL_SIZE=10 cannot serve"),
    ],
)  # fmt: skip
def test_a_setting_that_cannot_work_is_one_error_line_for_any_command(
    fresh_sqlite: dict[str, str], tmp_path: Path, env: dict[str, str], said: str
) -> None:
    for command in (("keys", "list"), ("worker",), ("serve", "--port", str(free_port()))):
        result = cli(*command, env=fresh_sqlite | env, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert result.stderr.startswith(said), (command, result.stderr)
        assert "Traceback" not in result.stderr + result.stdout
