"""JSON routes for runs: start, list, active, show, log, cancel."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from progress_sse.errors import BadRequest, Conflict, ValidationFailed
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.events import dumps
from progress_sse.runs.models import Run, RunStep
from progress_sse.runs.statuses import RunStatus
from progress_sse.runs.store import NewRun
from progress_sse.web.api.body import query_int, read_json_object
from progress_sse.web.api.serialize import run_json
from progress_sse.web.csvout import csv_response, csv_text
from progress_sse.web.security.auth import Principal, authenticate
from progress_sse.web.security.ratelimit import Scope
from progress_sse.web.services import Services, services
from progress_sse.wire import RunJson

MAX_IDEMPOTENCY_KEY = 200


async def caller(request: Request) -> tuple[Services, Principal]:
    """The services and the authenticated principal, counted against its request limit."""
    svc = services(request)
    who = await authenticate(svc.sessions, request, svc.sessions_codec, svc.rate_limits)
    await svc.rate_limits.hit(Scope.REQUESTS, str(who.key_id))
    await svc.key_usage.touch(who.key_id)
    return svc, who


def snapshot(
    svc: Services, request: Request, run: Run, steps: Sequence[RunStep] | None = None
) -> RunJson:
    """A run as every JSON route shows it (with `stale`, `resumable`, and URLs under the
    path the service is mounted at)."""
    summary = svc.registry.summary(run.kind, run.result) if run.status == "completed" else None
    return run_json(
        run, svc.settings.stale_after_s, steps, resumable=svc.registry.resumable(run.kind),
        pausable=svc.registry.pausable(run.kind), summary=summary, root=root_path(request),
    )  # fmt: skip


def root_path(request: Request) -> str:
    """Where the service is mounted (`parent.mount("/progress", app)`), "" at the root."""
    return str(request.scope.get("root_path", "")).rstrip("/")


async def create_run(request: Request) -> Response:
    svc, who = await caller(request)
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    kind_name = body.get("kind")
    if not isinstance(kind_name, str) or not kind_name:
        raise ValidationFailed(
            "'kind' is required and must be a string.",
            fields=[{"field": "kind", "message": "required string"}],
        )
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise ValidationFailed(
            "'params' must be a JSON object.",
            fields=[{"field": "params", "message": "must be an object"}],
        )
    kind, parsed = svc.registry.validate(kind_name, params)
    return await start(svc, who, request, kind, parsed)


async def admit(
    svc: Services, who: Principal, request: Request, kinds: Sequence[tuple[JobKind, BaseModel]]
) -> str | None:
    """What every start passes before anything is written (a run, or a batch of several
    kinds, which counts as one start): its `Idempotency-Key` (returned), an admin for a kind
    only admins may start, the starts limit, and each kind's precheck."""
    idem = request.headers.get("idempotency-key")
    if idem is not None and not (0 < len(idem) <= MAX_IDEMPOTENCY_KEY):
        raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters.")
    if any(kind.admin_only for kind, _ in kinds):
        who.require_admin()
    await svc.rate_limits.hit(Scope.STARTS, str(who.key_id))
    for kind, parsed in kinds:
        if kind.precheck is not None:
            await kind.precheck(svc.business_sessions, who.tenant_id, parsed)
    return idem


async def start(
    svc: Services, who: Principal, request: Request, kind: JobKind, parsed: BaseModel
) -> Response:
    """Create a validated run and answer 202 (shared by every route that starts jobs)."""
    idem = await admit(svc, who, request, [(kind, parsed)])
    run, created = await svc.store.create_run(
        NewRun(
            tenant_id=who.tenant_id,
            kind=kind.name,
            params=parsed.model_dump(mode="json"),
            lock_key=kind.lock_key(parsed),
            idempotency_key=idem,
            created_by=who.key_prefix,
            steps=kind.steps_for(parsed),
        )
    )
    if created and svc.runner is not None:
        svc.runner.wake()
    root = root_path(request)
    return JSONResponse(
        {
            "success": True,
            "id": run.id,
            "url": f"{root}/api/runs/{run.id}",
            "events_url": f"{root}/api/runs/{run.id}/events",
            "data": snapshot(svc, request, run),
        },
        status_code=202,
        headers={"Location": f"{root}/api/runs/{run.id}"}
        | ({} if created else {"Idempotent-Replayed": "true"}),
    )


def status_filter(request: Request) -> RunStatus | None:
    raw = request.query_params.get("status")
    if not raw:
        return None
    try:
        return RunStatus(raw)
    except ValueError:
        allowed = ", ".join(s.value for s in RunStatus)
        raise ValidationFailed(
            f"'status' must be one of: {allowed}.",
            fields=[{"field": "status", "message": "unknown status"}],
        ) from None


def parse_cursor(request: Request) -> str | None:
    """The `cursor` of a list: the id of the last item of the previous page."""
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and (len(cursor) > 32 or not cursor.isalnum()):
        raise ValidationFailed(
            "'cursor' is not valid.", fields=[{"field": "cursor", "message": "invalid"}]
        )
    return cursor


def _in_batch(request: Request) -> bool | None:
    """`in_batch=false`: only runs outside batches (the page lists a batch as one row)."""
    raw = request.query_params.get("in_batch")
    if raw in (None, ""):
        return None
    if raw not in ("true", "false"):
        raise ValidationFailed(
            "'in_batch' must be true or false.",
            fields=[{"field": "in_batch", "message": "true or false"}],
        )
    return raw == "true"


async def list_runs(request: Request) -> Response:
    svc, who = await caller(request)
    limit = query_int(request, "limit", 50, 1, 200)
    runs = await svc.store.list_runs(
        who.tenant_id,
        status=status_filter(request),
        kind=request.query_params.get("kind") or None,
        limit=limit,
        cursor=parse_cursor(request),
        in_batch=_in_batch(request),
    )
    return JSONResponse(
        {
            "success": True,
            "data": [snapshot(svc, request, r) for r in runs],
            "next_cursor": runs[-1].id if len(runs) == limit else None,
        }
    )


async def active_run(request: Request) -> Response:
    svc, who = await caller(request)
    run = await svc.store.active_run(who.tenant_id, request.query_params.get("kind") or None)
    if run is None:
        return JSONResponse(
            {
                "success": False,
                "status": "no_active_progress",
                "data": None,
                "progress": None,
                "message": "No run is active right now.",
            }
        )
    run = await svc.liveness.checked(run)
    data = snapshot(svc, request, run, await svc.store.get_steps(run.id))
    # `data` as every other route; `progress` is the same run under its first name, kept
    # for clients written against it (docs/api.md).
    return JSONResponse({"success": True, "status": run.status, "data": data, "progress": data})


async def show_run(request: Request) -> Response:
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    run = await svc.liveness.checked(run)
    steps = await svc.store.get_steps(run.id)
    return JSONResponse({"success": True, "data": snapshot(svc, request, run, steps)})


LOG_COLUMNS = ("seq", "event", "ts", "status", "percentage", "step", "step_status", "message")


async def run_log(request: Request) -> Response:
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    events = await svc.store.events_after(run.id, 0, limit=1_000_000)
    fmt = request.query_params.get("format", "json")
    if fmt == "csv":
        rows = (
            [
                e.seq, e.event.value if e.event else "progress", e.data.get("ts"),
                e.data.get("status"), e.data.get("percentage"),
                (e.data.get("step") or {}).get("name", ""),
                (e.data.get("step") or {}).get("status", ""), str(e.data.get("message", "")),
            ]
            for e in events
        )  # fmt: skip
        return csv_response(csv_text(LOG_COLUMNS, rows), f"run-{run.id}.csv")
    if fmt != "json":
        raise ValidationFailed(
            "'format' must be json or csv.", fields=[{"field": "format", "message": "json or csv"}]
        )
    data = [
        {"seq": e.seq, "event": e.event.value if e.event else None, "data": e.data} for e in events
    ]
    return Response(
        dumps({"success": True, "run_id": run.id, "data": data, "total": len(data)}),
        media_type="application/json",
    )


def not_in_batch(request: Request, run: Run, action: str) -> None:
    """A batch's child is resumed or paused only through its batch, which decides what runs."""
    if run.parent_id is not None:
        raise Conflict(
            f"This run is part of batch {run.parent_id}; {action} the batch instead "
            f"(POST {root_path(request)}/api/batches/{run.parent_id}/{action}).",
            code="in_batch",
            batch_id=run.parent_id,
        )


async def resume_run(request: Request) -> Response:
    """Queue a failed or cancelled run again, or continue a paused one."""
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    not_in_batch(request, run, "resume")
    kind = svc.registry.get(run.kind)
    if kind.admin_only:
        who.require_admin()
    if not kind.resumable:
        raise Conflict(
            f"Runs of kind {run.kind!r} cannot be resumed; start a new run instead.",
            code="not_resumable",
        )
    run, event = await svc.store.resume(who.tenant_id, run.id)
    await svc.broker.publish(run.id, [event])
    if svc.runner is not None:
        svc.runner.wake()
    return JSONResponse({"success": True, "data": snapshot(svc, request, run)}, status_code=202)


async def pause_run(request: Request) -> Response:
    """Pause at the next chunk's end (at once when still queued); `POST …/resume` continues."""
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    not_in_batch(request, run, "pause")
    kind = svc.registry.get(run.kind)
    if not kind.pausable:
        raise Conflict(
            f"A {kind.title or kind.name} run does its work in one transaction, so it cannot "
            "stop partway without undoing it; cancel it instead (everything is rolled back), "
            "or let it finish.",
            code="not_pausable",
        )
    if kind.admin_only:
        who.require_admin()
    run, event = await svc.store.request_pause(who.tenant_id, run.id)
    if event is not None:
        await svc.broker.publish(run.id, [event])
    elif svc.runner is not None:
        svc.runner.request_pause(run.id)
    return JSONResponse({"success": True, "data": snapshot(svc, request, run)}, status_code=202)


async def cancel_run(request: Request) -> Response:
    svc, who = await caller(request)
    run, event = await svc.store.request_cancel(who.tenant_id, request.path_params["run_id"])
    if event is not None:
        await svc.broker.publish(run.id, [event])
    elif svc.runner is not None:
        svc.runner.request_cancel(run.id)
    return JSONResponse({"success": True, "data": snapshot(svc, request, run)}, status_code=202)
