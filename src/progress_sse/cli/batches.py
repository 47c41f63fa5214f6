"""`progress-sse batches …`: list, inspect, watch, cancel and resume batches through a
running server's API (PROGRESS_SSE_URL, PROGRESS_SSE_API_KEY), with the tables, live bar,
`--json` and exit codes of `runs …` (cli/remote.py).

Exit codes: 0 done (for `watch`: the batch completed), 1 an error (one line on stderr),
2 bad usage, 3 the watched batch failed, 4 it was cancelled.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from progress_sse.cli.client import Api, ApiError
from progress_sse.cli.remote import (
    DEFAULT_URL,
    EXIT_CODE,
    ApiKey,
    Json,
    ServerUrl,
    api_errors,
    listed,
    post_action,
    seconds_between,
    watch_stream,
    when,
)
from progress_sse.cli.terminal import FREE_TEXT, GIVES_WAY, duration, emit_json, line, table, tally

batches_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Batches, through a running server's API."
)
Status = Annotated[str | None, typer.Option(help="running, completed, failed, cancelled")]
BATCH_COLUMNS = ("id", "name", "status", "done", "children", "created", "duration")
CHILD_COLUMNS = ("#", "name", "kind", "status", "done", "step", "duration", "run", "reason")
# Too wide: the kind, the step and the times go before a child's name and reason, and the
# run id (to follow up with `runs show`) stays whole.
CHILD_LEAVE_OUT = (("kind",), ("step",), GIVES_WAY, FREE_TEXT)
BATCH_LEAVE_OUT = (GIVES_WAY, FREE_TEXT)  # a batch's name before its times


def batch_rows(batches: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            b["id"],
            b["name"],
            b["status"],
            f"{b['percentage']:.0f}%",
            tally(b["counts"]),
            when(b["created_at"]),
            duration(seconds_between(b["started_at"], b["finished_at"])),
        ]
        for b in batches
    ]


def child_rows(children: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            c["index"],
            c["name"],
            c["kind"],
            c["status"],
            f"{c['percentage']:.0f}%",
            (c.get("step") or {}).get("name"),
            duration(c.get("duration_s")),
            c["run_id"],
            c["reason"],
        ]
        for c in children
    ]


def outcome_lines(children: list[dict[str, Any]]) -> list[str]:
    """How each child ended, a line each: `  1 b  failed  run <id>  <why>`."""
    lines = []
    for c in children:
        why = (c.get("reason") or "").removeprefix(f"{c['status']}: ")  # `skipped: it waits…`
        run = f"  run {c['run_id']}" if c.get("run_id") else ""
        lines.append(f"  {c['index']} {c['name']}  {c['status']}{run}{f'  {why}' if why else ''}")
    return lines


@batches_app.command("list")
def list_batches(
    failed: Annotated[bool, typer.Option("--failed", help="only the failed batches")] = False,
    status: Status = None,
    every: Annotated[bool, typer.Option("--all", help="every batch, page after page")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """The newest batches (or all of them), with status, progress, children and duration."""
    if failed and status not in (None, "failed"):
        raise typer.BadParameter(f"--failed and --status {status} ask for different batches")
    with api_errors():
        query = {"status": "failed" if failed else status}
        batches = listed(
            Api(url, key), "/api/batches", query, every=every, limit=limit, page_max=100
        )
    if as_json:
        emit_json(batches)
    else:
        table("Batches", BATCH_COLUMNS, batch_rows(batches), leave_out=BATCH_LEAVE_OUT)


@batches_app.command("latest")
def latest(url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False) -> None:
    """The newest batch, shown in full."""
    with api_errors():
        api = Api(url, key)
        page = api.call("GET", "/api/batches", params={"limit": 1})
        if not page["data"]:
            raise ApiError("there are no batches yet")
        show_batch(api, page["data"][0]["id"], as_json=as_json)


@batches_app.command("show")
def show(
    batch_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """One batch: its counts, then each child with status, step, duration, run and reason."""
    with api_errors():
        show_batch(Api(url, key), batch_id, as_json=as_json)


def show_batch(api: Api, batch_id: str, *, as_json: bool) -> None:
    batch = api.call("GET", f"/api/batches/{batch_id}")["data"]
    resume = f"progress-sse batches resume {batch['id']}" if batch.get("resumable") else None
    if as_json:
        emit_json({**batch, "resume_command": resume})
        return
    spent = duration(seconds_between(batch["started_at"], batch["finished_at"]))
    line(f"{batch['id']}  {batch['name']}  {batch['status']}  {batch['percentage']:.0f}%  {spent}")
    line(f"  {batch['message']}")
    line(f"  children: {tally(batch['counts'])}")
    table("Children", CHILD_COLUMNS, child_rows(batch["children"]), leave_out=CHILD_LEAVE_OUT)
    if resume:
        line(f"resume with: {resume}")


@batches_app.command("watch")
def watch(
    batch_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """A live bar until the batch ends, then each child's outcome: exit 0 completed,
    3 failed, 4 cancelled."""
    raise typer.Exit(code=follow_batch(Api(url, key), batch_id, as_json))


def follow_batch(api: Api, batch_id: str, as_json: bool) -> int:
    """Watch a batch to its end, then each child's outcome; the exit code of its ending
    (shared with the commands that start batches: `close --watch`)."""
    with api_errors():
        name, data = watch_stream(api, batch_id, as_json, collection="batches")
    for text in [] if as_json else outcome_lines(data.get("children", [])):
        line(text)
    return EXIT_CODE[name]


@batches_app.command("cancel")
def cancel(
    batch_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """Cancel a batch: what has not started is skipped, the running children roll back."""
    post_action(url, key, f"/api/batches/{batch_id}/cancel", as_json, lambda batch: (
        f"cancel requested for {batch['id']} ({batch['status']}; {tally(batch['counts'])})"
    ))  # fmt: skip


@batches_app.command("pause")
def pause(
    batch_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """Pause a batch between children: the running ones finish, no other starts."""
    post_action(url, key, f"/api/batches/{batch_id}/pause", as_json, lambda batch: (
        f"{batch['status'] if batch['status'] == 'paused' else 'pausing'} {batch['id']} "
        f"({tally(batch['counts'])})"
    ))  # fmt: skip


@batches_app.command("resume")
def resume(
    batch_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """Continue a paused batch, or run again what did not succeed in a failed or
    cancelled one."""
    post_action(url, key, f"/api/batches/{batch_id}/resume", as_json, lambda batch: (
        f"resumed {batch['id']}: {batch['status']} ({tally(batch['counts'])})"
    ))  # fmt: skip
