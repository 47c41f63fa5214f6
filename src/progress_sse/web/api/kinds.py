"""`GET /api/kinds`: the job kinds this service runs, with the schema of their params.

The page draws a start form from each schema and the CLI checks `-p` values
against it, so a new kind needs no front-end work.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from progress_sse.jobs.kinds import JobKind
from progress_sse.web.api.runs import caller
from progress_sse.wire import KindJson, StepSpecJson


def kind_json(kind: JobKind) -> KindJson:
    steps: list[StepSpecJson] | None = (
        None  # they depend on the params: known once a run is started
        if callable(kind.steps)
        else [{"name": s.name, "start": s.start, "end": s.end} for s in kind.steps]
    )
    return {
        "name": kind.name,
        "title": kind.title or kind.name,
        "description": kind.description,
        "resumable": kind.resumable,
        "admin_only": kind.admin_only,
        "steps": steps,
        "params_schema": kind.params.model_json_schema(),
    }


async def list_kinds(request: Request) -> Response:
    svc, _who = await caller(request)
    kinds = [kind_json(svc.registry.get(name)) for name in svc.registry.names]
    return JSONResponse({"success": True, "data": kinds})
