"""progress-sse: durable job runs streamed to browsers over Server-Sent Events.

The public API is what `__all__` lists; everything else is internal.

For job authors (docs/writing-a-job.md)::

    from progress_sse import JobContext, JobKind, StepSpec

    async def sync(ctx: JobContext, params: SyncParams) -> dict[str, int]:
        async with ctx.step("copy", total=n):
            ...
            await ctx.progress(processed=i, message=f"Row {i} of {n}")
        return {"rows": n}

    SYNC = JobKind(name="table_sync", params=SyncParams, run=sync, steps=(...))

and in the package's pyproject.toml::

    [project.entry-points."progress_sse.jobs"]
    table_sync = "my_package.jobs:SYNC"

For integrators: `create_app(Settings())` is an ASGI app to serve or mount.

Names are imported on first use, so `import progress_sse` stays cheap (the
`runs` commands load none of the database or web stack).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from progress_sse.errors import JobError, RunCancelled
    from progress_sse.jobs.context import JobContext
    from progress_sse.jobs.kinds import JobKind
    from progress_sse.jobs.report import ReportLink, ReportSection, ReportTable
    from progress_sse.plugins import DemoSeeded, DemoSeeding, Plugin
    from progress_sse.runs.progress import StepSpec, even_steps
    from progress_sse.settings import Settings
    from progress_sse.web.app import create_app

__version__ = "0.1.0"
__all__ = [
    "DemoSeeded",
    "DemoSeeding",
    "JobContext",
    "JobError",
    "JobKind",
    "Plugin",
    "ReportLink",
    "ReportSection",
    "ReportTable",
    "RunCancelled",
    "Settings",
    "StepSpec",
    "create_app",
    "even_steps",
]

_HOME = {
    "DemoSeeded": "progress_sse.plugins",
    "DemoSeeding": "progress_sse.plugins",
    "JobContext": "progress_sse.jobs.context",
    "JobError": "progress_sse.errors",
    "JobKind": "progress_sse.jobs.kinds",
    "Plugin": "progress_sse.plugins",
    "ReportLink": "progress_sse.jobs.report",
    "ReportSection": "progress_sse.jobs.report",
    "ReportTable": "progress_sse.jobs.report",
    "RunCancelled": "progress_sse.errors",
    "Settings": "progress_sse.settings",
    "StepSpec": "progress_sse.runs.progress",
    "create_app": "progress_sse.web.app",
    "even_steps": "progress_sse.runs.progress",
}


def __getattr__(name: str) -> Any:
    """`progress_sse.JobKind` and the like, imported from their module on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'progress_sse' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
