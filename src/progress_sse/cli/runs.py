"""`progress-sse runs …`: start, list, inspect, watch, cancel, resume and read runs
through a running server's API (PROGRESS_SSE_URL, PROGRESS_SSE_API_KEY).

Exit codes: 0 done (for `watch`: the run completed), 1 an error (one line on
stderr), 2 bad usage, 3 the watched run failed, 4 it was cancelled.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from progress_sse.cli import terminal
from progress_sse.cli.client import Api, ApiError
from progress_sse.cli.params import Param, ParamError, coerce, fields
from progress_sse.cli.remote import (
    DEFAULT_URL,
    EXIT_CODE,
    ApiKey,
    ServerUrl,
    api_errors,
    listed,
    post_action,
    seconds_between,
    watch_stream,
    when,
)
from progress_sse.cli.remote import Json as Json  # plugins' commands take it from here
from progress_sse.cli.report import report
from progress_sse.cli.terminal import duration, emit_json, line, table

runs_app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Runs, through a running server's API."
)


def kind_named(api: Api, kind: str) -> dict[str, Any]:
    """The kind as the server describes it (`GET /api/kinds`), or a clear error."""
    kinds: list[dict[str, Any]] = api.call("GET", "/api/kinds")["data"]
    for found in kinds:
        if found["name"] == kind:
            return found
    known = ", ".join(k["name"] for k in kinds)
    raise ApiError(f"Unknown job kind {kind!r}; known kinds: {known}.")


def params_for(kind: dict[str, Any], pairs: list[str]) -> dict[str, Any]:
    """`-p` pairs read by the kind's params schema; a bad one is a usage error (exit 2)."""
    try:
        return coerce(pairs, kind["params_schema"])
    except ParamError as exc:
        raise typer.BadParameter(str(exc), param_hint="-p") from None


def run_rows(runs: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["id"],
            r["kind"],
            r["status"],
            f"{r['percentage']:.0f}%",
            when(r["started_at"] or r["created_at"]),
            duration(seconds_between(r["started_at"], r["finished_at"])),
            r["error"] or r["message"],
        ]
        for r in runs
    ]


RUN_COLUMNS = ("id", "kind", "status", "done", "started", "duration", "message")


@runs_app.command("start")
def start(
    kind: str,
    param: Annotated[list[str] | None, typer.Option("-p", "--param", help="key=value")] = None,
    watch_it: Annotated[bool, typer.Option("--watch", help="then watch it to the end")] = False,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """Start a run of KIND: `runs start asset_depreciation -p year=2026 -p month=11`.

    Each -p is read as the kind's params say (`runs kinds KIND` lists them); lists
    are comma-separated.
    """
    with api_errors():
        api = Api(url, key)
        params = params_for(kind_named(api, kind), param or [])
        body = api.call("POST", "/api/runs", json={"kind": kind, "params": params})
        run = body["data"]
        if as_json and not watch_it:
            emit_json(run)
        elif not as_json:
            line(f"started {run['id']} ({kind})")
        if watch_it:
            raise typer.Exit(code=follow(api, run["id"], as_json))


@runs_app.command("kinds")
def kinds(
    kind: Annotated[str | None, typer.Argument(help="one kind: its parameters")] = None,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """The job kinds the server runs; with KIND, the parameters `runs start KIND -p` takes."""
    with api_errors():
        api = Api(url, key)
        if kind is None:
            found: list[dict[str, Any]] = api.call("GET", "/api/kinds")["data"]
            if as_json:
                emit_json(found)
                return
            rows = [[k["name"], k["title"], "yes" if k["resumable"] else "no"] for k in found]
            table("Job kinds", ("kind", "title", "resumable"), rows)
            return
        described = kind_named(api, kind)
    params = fields(described["params_schema"])
    if as_json:
        emit_json([_param_json(p) for p in params])
        return
    if described["description"]:
        line(described["description"])
    rows = [
        [p.name, p.type, "yes" if p.required else json.dumps(p.default), p.description]
        for p in params
    ]
    table(f"Parameters of {kind}", ("name", "type", "required / default", "about"), rows)


def _param_json(param: Param) -> dict[str, Any]:
    return {
        "name": param.name, "type": param.type, "required": param.required,
        "default": param.default, "description": param.description,
    }  # fmt: skip


@runs_app.command("list")
def list_runs(
    status: Annotated[
        str | None, typer.Option(help="pending, running, completed, failed, cancelled")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="one kind")] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="every run, page after page")] = False,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """The newest runs (or all of them), with status, progress and duration."""
    with api_errors():
        query = {"status": status, "kind": kind}
        runs = listed(Api(url, key), "/api/runs", query, every=all_runs, limit=limit, page_max=200)
    if as_json:
        emit_json(runs)
    else:
        table("Runs", RUN_COLUMNS, run_rows(runs))


@runs_app.command("latest")
def latest(
    kind: Annotated[str | None, typer.Option(help="one kind")] = None,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """The newest run, shown in full."""
    with api_errors():
        api = Api(url, key)
        page = api.call("GET", "/api/runs", params={"limit": 1, **({"kind": kind} if kind else {})})
        if not page["data"]:
            raise ApiError("there are no runs yet")
        show_run(api, page["data"][0]["id"], failed_only=False, as_json=as_json)


@runs_app.command("show")
def show(
    run_id: str,
    failed: Annotated[bool, typer.Option("--failed", help="only the failed steps")] = False,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """One run: its steps with status, counts, durations and errors, and how to resume it."""
    with api_errors():
        show_run(Api(url, key), run_id, failed_only=failed, as_json=as_json)


def show_run(api: Api, run_id: str, *, failed_only: bool, as_json: bool) -> None:
    run = api.call("GET", f"/api/runs/{run_id}")["data"]
    steps = [s for s in run.get("steps", []) if not failed_only or s["status"] == "failed"]
    resume = (
        f"progress-sse runs resume {run['id']}"
        if run.get("resumable") and run["status"] in ("failed", "cancelled", "paused")
        else None
    )
    if as_json:
        emit_json({**run, "steps": steps, "resume_command": resume})
        return
    spent = duration(seconds_between(run["started_at"], run["finished_at"]))
    line(f"{run['id']}  {run['kind']}  {run['status']}  {run['percentage']:.0f}%  {spent}")
    line(f"  {run['error'] or run['message']}")
    if run.get("summary"):
        line(f"  {run['summary']}")
    if run.get("result"):
        line(f"  result: {json.dumps(run['result'], ensure_ascii=False)}")
    table(
        "Failed steps" if failed_only else "Steps",
        ("step", "status", "processed", "total", "skipped", "duration", "error"),
        [
            [
                s["name"],
                s["status"],
                s["processed"],
                s["total"],
                s["skipped"],
                duration(s.get("duration_s")),
                s.get("error"),
            ]
            for s in steps
        ],
    )
    if failed_only and not steps:
        line("no failed steps")
    if resume:
        line(f"resume with: {resume}")


@runs_app.command("watch")
def watch(
    run_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """A live bar until the run ends: exit 0 completed, 3 failed, 4 cancelled."""
    with api_errors():
        code = follow(Api(url, key), run_id, as_json)
    raise typer.Exit(code=code)


def follow(api: Api, run_id: str, as_json: bool) -> int:
    name, data = watch_stream(api, run_id, as_json)
    if name == "complete" and not as_json:  # what it did: the kind's sentence, else the result
        run = api.call("GET", f"/api/runs/{run_id}")["data"]
        said = run.get("summary")
        for text in [f"  {said}"] if said else terminal.summary_lines(data.get("result")):
            line(text)
    return EXIT_CODE[name]


@runs_app.command("cancel")
def cancel(
    run_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """Cancel a run: at once if pending, at its next checkpoint if running."""
    post_action(url, key, f"/api/runs/{run_id}/cancel", as_json,
                lambda run: f"cancel requested for {run['id']} ({run['status']})")  # fmt: skip


@runs_app.command("pause")
def pause(
    run_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """Pause a run of a pausable kind after its current chunk (at once if pending);
    `runs resume` continues it."""
    post_action(url, key, f"/api/runs/{run_id}/pause", as_json, lambda run: (
        f"paused {run['id']}" if run["status"] == "paused"
        else f"pause requested for {run['id']}: it stops after its current chunk"
    ))  # fmt: skip


@runs_app.command("resume")
def resume(
    run_id: str, url: ServerUrl = DEFAULT_URL, key: ApiKey = "", as_json: Json = False
) -> None:
    """Continue a paused run, or start a new attempt of a failed or cancelled run of a
    resumable kind."""
    post_action(url, key, f"/api/runs/{run_id}/resume", as_json, lambda run: (
        f"resumed {run['id']}: {run['status']} (attempt {run['attempt']} so far)"
    ))  # fmt: skip


runs_app.command("report")(report)  # cli/report.py: the run's printable page, saved


@runs_app.command("log")
def log(
    run_id: str,
    csv: Annotated[bool, typer.Option("--csv", help="the log as CSV")] = False,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """Every event the run recorded, in order."""
    with api_errors():
        api = Api(url, key)
        if csv:
            sys.stdout.write(
                api.call("GET", f"/api/runs/{run_id}/log", params={"format": "csv"}, raw=True)
            )
            return
        events = api.call("GET", f"/api/runs/{run_id}/log")["data"]
    if as_json:
        emit_json(events)
        return
    rows = []
    for e in events:
        data, step = e["data"], e["data"].get("step") or {}
        done = f"{data.get('percentage', 0):.1f}%"
        rows.append(
            [
                e["seq"],
                e["event"] or "progress",
                data.get("ts"),
                data.get("status"),
                done,
                step.get("name"),
                data.get("message"),
            ]
        )
    table("Log", ("seq", "event", "time", "status", "done", "step", "message"), rows)
