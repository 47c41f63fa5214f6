"""`GET /api/runs/{id}/report`: one run as a printable HTML page (docs/api.md#the-report)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from progress_sse.errors import ValidationFailed
from progress_sse.jobs.kinds import JobRegistry
from progress_sse.jobs.liveness import is_stale
from progress_sse.runs.events import utc_now
from progress_sse.runs.store import RunStore
from progress_sse.web.api.runs import caller, root_path
from progress_sse.web.report.model import Source, build
from progress_sse.web.report.render import renderer
from progress_sse.web.report.timeline import Timeline

PAGE = 1_000  # events read per query: a run of a million events is read in pages


async def run_report(request: Request) -> Response:
    """Auth and tenancy as every run route: another tenant's run, or a batch, is 404."""
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    run = await svc.liveness.checked(run)
    steps = await svc.store.get_steps(run.id)
    timeline = await read_timeline(svc.store, run.id)
    completed = run.status == "completed"
    source = Source(
        run=run,
        steps=steps,
        timeline=timeline,
        title=kind_title(svc.registry, run.kind),
        summary=svc.registry.summary(run.kind, run.result) if completed else None,
        sections=svc.registry.report(run.kind, run.result, run.params) if completed else None,
        stale=is_stale(run, svc.settings.stale_after_s),
        base_url=f"{request.url.scheme}://{request.url.netloc}{root_path(request)}/",
        now=utc_now(),
    )
    drawing = renderer()
    return Response(
        drawing.render(build(source)),
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": drawing.csp,
            "Cache-Control": "no-store",  # a tenant's books: never in a shared cache
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Disposition": f'inline; filename="run-{run.id}.html"',
        },
    )


async def read_timeline(store: RunStore, run_id: str) -> Timeline:
    """Every stored event of the run, page after page, folded into its timeline."""
    timeline, after = Timeline(), 0
    while True:
        events = await store.events_after(run_id, after, limit=PAGE)
        timeline.add_all(events)
        if len(events) < PAGE:
            return timeline
        after = events[-1].seq


def kind_title(registry: JobRegistry, kind: str) -> str:
    """What people call the kind; its name when it has no title or is no longer installed."""
    try:
        return registry.get(kind).title or kind
    except ValidationFailed:
        return kind
