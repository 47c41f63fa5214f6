"""JSON routes for batches: start, list, show, cancel, resume (the stream is in stream.py).

A batch's body names its children; every child's kind and params are checked before
anything is written, and a 422 names each bad field as `children[i].params.x`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.batches.plan import MAX_CHILDREN, BatchSpec, ChildSpec, spec_problems
from progress_sse.batches.store import BatchView, NewBatch
from progress_sse.errors import ValidationFailed
from progress_sse.jobs.kinds import JobKind, JobRegistry
from progress_sse.web.api import stream
from progress_sse.web.api.body import query_int, read_json_object
from progress_sse.web.api.runs import admit, caller, parse_cursor, root_path, status_filter
from progress_sse.web.api.serialize import batch_json
from progress_sse.web.security.auth import Principal
from progress_sse.web.security.ratelimit import Scope
from progress_sse.web.services import Services
from progress_sse.wire import BatchJson

MAX_NAME = 100
Field = dict[str, str]


def _child(
    i: int, raw: Any, registry: JobRegistry, names: list[str], fields: list[Field]
) -> tuple[ChildSpec, JobKind, BaseModel] | None:
    """One child of the body, or None with its problems added to `fields`."""
    where = f"children[{i}]"
    if not isinstance(raw, Mapping):
        fields.append({"field": where, "message": "must be an object"})
        return None
    unknown = sorted(set(raw) - {"name", "kind", "params", "weight", "after"})
    if unknown:
        fields.append({"field": where, "message": f"unknown field(s): {', '.join(unknown)}"})
    try:
        kind, parsed = registry.validate(str(raw.get("kind", "")), raw.get("params", {}))
    except ValidationFailed as exc:
        for f in exc.extra.get("fields", [{"field": "kind", "message": exc.message}]):
            message = exc.message if f["field"] == "kind" else f["message"]
            fields.append({"field": f"{where}.{f['field']}", "message": message})
        return None
    name = raw.get("name", kind.title or kind.name)
    if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
        fields.append({"field": f"{where}.name", "message": f"1-{MAX_NAME} characters"})
        return None
    weight = raw.get("weight", 1.0)
    if not _finite_number(weight):
        fields.append({"field": f"{where}.weight", "message": "must be a number"})
        return None
    problems = len(fields)
    after = _after(where, raw.get("after"), names, fields)
    if len(fields) > problems:
        return None
    spec = ChildSpec(name.strip(), kind.name, parsed.model_dump(mode="json"), float(weight), after)
    return spec, kind, parsed


def _finite_number(value: Any) -> bool:
    """A JSON number a float holds (an integer of 400 digits does not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _after(where: str, raw: Any, names: list[str], fields: list[Field]) -> tuple[int, ...] | None:
    """`after` as indexes: given as indexes or as the names of earlier children (None: the
    default; a problem is added to `fields`)."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        fields.append({"field": f"{where}.after", "message": "a list of earlier children"})
        return None
    indexes = []
    for item in raw:
        if isinstance(item, str) and item in names:
            indexes.append(names.index(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            indexes.append(item)
        else:
            fields.append({"field": f"{where}.after", "message": f"no earlier child {item!r}"})
            return None
    return tuple(indexes)


def parse_batch(
    body: Mapping[str, Any], registry: JobRegistry
) -> tuple[BatchSpec, list[tuple[JobKind, BaseModel]]]:
    """The batch a body asks for, every problem named at once (422)."""
    fields: list[Field] = []
    name, parallel, raw_children = (
        body.get("name"),
        body.get("parallel", False),
        body.get("children"),
    )
    unknown = sorted(set(body) - {"name", "parallel", "children"})
    if unknown:
        fields.append({"field": "body", "message": f"unknown field(s): {', '.join(unknown)}"})
    if not isinstance(name, str) or not 0 < len(name.strip()) <= MAX_NAME:
        fields.append({"field": "name", "message": f"required, 1-{MAX_NAME} characters"})
    if not isinstance(parallel, bool):
        fields.append({"field": "parallel", "message": "true or false"})
    if not isinstance(raw_children, list) or not 1 <= len(raw_children) <= MAX_CHILDREN:
        fields.append({"field": "children", "message": f"a list of 1 to {MAX_CHILDREN} children"})
        raw_children = []
    children: list[tuple[ChildSpec, JobKind, BaseModel]] = []
    names: list[str] = []
    for i, raw in enumerate(raw_children):
        parsed = _child(i, raw, registry, names, fields)
        if parsed is not None:
            children.append(parsed)
            names.append(parsed[0].name)
    if not fields:
        specs = [spec for spec, _, _ in children]
        fields += [{"field": "children", "message": p} for p in spec_problems(str(name), specs)]
    if fields:
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:10])
        raise ValidationFailed(f"Invalid batch: {summary}", fields=fields)
    spec = BatchSpec(str(name).strip(), tuple(s for s, _, _ in children), parallel=bool(parallel))
    return spec, [(kind, parsed) for _, kind, parsed in children]


def checked_spec(
    spec: BatchSpec, registry: JobRegistry
) -> tuple[BatchSpec, list[tuple[JobKind, BaseModel]]]:
    """A batch built by code (a template such as the month-end close), each child's params
    validated and stored as its kind's model dumps them, as a posted batch's are."""
    kinds = [registry.validate(child.kind, child.params) for child in spec.children]
    children = tuple(
        dataclasses.replace(child, params=parsed.model_dump(mode="json"))
        for child, (_, parsed) in zip(spec.children, kinds, strict=True)
    )
    return dataclasses.replace(spec, children=children), kinds


async def create_batch(request: Request) -> Response:
    svc, who = await caller(request)
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    spec, kinds = parse_batch(body, svc.registry)
    return await start_batch(svc, who, request, spec, kinds)


async def start_batch(
    svc: Services,
    who: Principal,
    request: Request,
    spec: BatchSpec,
    kinds: Sequence[tuple[JobKind, BaseModel]],
    *,
    lock_key: str | None = None,
) -> Response:
    """Create a checked batch and answer 202 (shared by every route that starts batches).
    Each child's precheck runs now, on the books as they are: a batch that cannot run is
    refused before anything is written (its jobs check again when they run)."""
    idem = await admit(svc, who, request, kinds)
    batch, created = await svc.batches.create(
        NewBatch(who.tenant_id, spec, who.key_prefix, idem, lock_key=lock_key)
    )
    view = await svc.batches.get(who.tenant_id, batch.id)
    data = shown(svc, request, view)
    return JSONResponse(
        {"success": True, "id": batch.id, "url": data["url"], "events_url": data["events_url"],
         "data": data},
        status_code=202,
        headers={"Location": data["url"]} | ({} if created else {"Idempotent-Replayed": "true"}),
    )  # fmt: skip


async def list_batches(request: Request) -> Response:
    svc, who = await caller(request)
    limit = query_int(request, "limit", 20, 1, 100)
    views = await svc.batches.recent(
        who.tenant_id, status=status_filter(request), limit=limit, cursor=parse_cursor(request)
    )
    return JSONResponse(
        {
            "success": True,
            "data": [shown(svc, request, v) for v in views],
            "next_cursor": views[-1].batch.id if len(views) == limit else None,
        }
    )


def shown(svc: Services, request: Request, view: BatchView) -> BatchJson:
    """A batch as every route shows it (URLs under the path the service is mounted at)."""
    return batch_json(view, svc.settings.stale_after_s, root_path(request), admin_only(svc, view))


def admin_only(svc: Services, view: BatchView) -> bool:
    """A child's kind only an admin may start: only an admin may resume the batch."""
    return any(svc.registry.admin_only(c.child.kind) for c in view.children)


async def _answer(svc: Services, who: Principal, request: Request, batch_id: str) -> Response:
    """The batch as it is; a child whose worker died is failed first, as a run is on read
    (its ending moves the batch on), so no reader sees a batch wait on a dead child."""
    view = await svc.batches.get(who.tenant_id, batch_id)
    running = [c.run for c in view.children if c.run is not None and c.run.status == "running"]
    if [await svc.liveness.checked(run) for run in running] != running:
        view = await svc.batches.get(who.tenant_id, batch_id)
    return JSONResponse({"success": True, "data": shown(svc, request, view)})


async def show_batch(request: Request) -> Response:
    svc, who = await caller(request)
    return await _answer(svc, who, request, request.path_params["batch_id"])


async def cancel_batch(request: Request) -> Response:
    """Skip what has not started and cancel the running children (each rolls back)."""
    svc, who = await caller(request)
    batch, running = await svc.batches.cancel(who.tenant_id, request.path_params["batch_id"])
    if svc.runner is not None:
        for run_id in running:
            svc.runner.request_cancel(run_id)  # at once here; other workers see the flag
    response = await _answer(svc, who, request, batch.id)
    response.status_code = 202
    return response


async def pause_batch(request: Request) -> Response:
    """Start no more children; `paused` once the running ones have finished."""
    svc, who = await caller(request)
    batch = await svc.batches.pause(who.tenant_id, request.path_params["batch_id"])
    response = await _answer(svc, who, request, batch.id)
    response.status_code = 202
    return response


async def resume_batch(request: Request) -> Response:
    """Run again what did not succeed, or continue a paused batch: a start as a new batch
    is (admin-only kinds, limit)."""
    svc, who = await caller(request)
    view = await svc.batches.get(who.tenant_id, request.path_params["batch_id"])
    if admin_only(svc, view):
        who.require_admin()
    await svc.rate_limits.hit(Scope.STARTS, str(who.key_id))
    batch = await svc.batches.resume(who.tenant_id, view.batch.id)
    response = await _answer(svc, who, request, batch.id)
    response.status_code = 202
    return response


async def batch_events(request: Request) -> Response:
    return await stream.events(request, request.path_params["batch_id"], batch=True)


def routes() -> list[Route]:
    return [
        Route("/api/batches", create_batch, methods=["POST"]),
        Route("/api/batches", list_batches, methods=["GET"]),
        Route("/api/batches/{batch_id}", show_batch, methods=["GET"]),
        Route("/api/batches/{batch_id}/events", batch_events, methods=["GET"]),
        Route("/api/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
        Route("/api/batches/{batch_id}/resume", resume_batch, methods=["POST"]),
        Route("/api/batches/{batch_id}/pause", pause_batch, methods=["POST"]),
    ]
