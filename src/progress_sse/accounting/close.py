"""The month-end close: a batch of the month's import (when a file is given), its
depreciation run and the lock of the period, each child with its own transaction.

The close is a template of `progress_sse.batches`, not a job: the batch tracks, cancels
and resumes the three as one, and a failed depreciation skips the lock, so a month is
never locked without its posting.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from progress_sse.accounting import summaries
from progress_sse.accounting.depreciation import periods
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.batches.plan import BatchSpec, ChildSpec
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.progress import StepSpec

# The depreciation is most of a close's work: it owns most of the combined bar.
WEIGHTS = {"import": 2.0, "depreciation": 7.0, "lock": 1.0}


class LockParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)

    @property
    def period(self) -> Period:
        return Period(self.year, self.month)


async def lock_period(ctx: JobContext, params: LockParams) -> dict[str, Any]:
    """Lock the month in the run's transaction; it waits for a posting in flight
    (`periods.hold_month`) and the runner commits it, then marks the run completed."""
    async with ctx.step("lock", message=f"Locking {params.period}"):
        session = await ctx.session()
        already = await periods.is_locked(session, ctx.tenant_id, params.period)
        at = await periods.lock_in(session, ctx.tenant_id, params.period, by=ctx.created_by or "")
    return {"period": str(params.period), "locked_at": at.isoformat(), "already_locked": already}


PERIOD_LOCK = JobKind(
    name="period_lock",
    title="Lock the period",
    description="Lock a month, so no run changes it again (an admin can unlock it).",
    params=LockParams,
    run=lock_period,
    steps=(StepSpec("lock", 0, 100),),
    # the key of the month's posting runs: never locked under a posting in flight
    lock_key=lambda params: periods.lock_key_of(params.period),
    summarize=summaries.period_lock,
    admin_only=True,  # as POST /api/periods/{year}/{month}/lock
)


def close_spec(
    period: Period,
    upload_id: int | None,
    import_params: dict[str, Any],
    allow_earlier_unposted: bool = False,
) -> BatchSpec:
    """Import (with a file) -> depreciation -> lock, in that order."""
    month = {"year": period.year, "month": period.month}
    posting = {**month, "allow_earlier_unposted": allow_earlier_unposted}
    children = []
    if upload_id is not None:
        imported = {**import_params, "upload_id": upload_id}
        children.append(ChildSpec("Import assets", "asset_import", imported, WEIGHTS["import"]))
    children.append(
        ChildSpec("Depreciation", "asset_depreciation", posting, WEIGHTS["depreciation"])
    )
    children.append(ChildSpec("Lock the period", "period_lock", month, WEIGHTS["lock"]))
    return BatchSpec(f"Month-end close {period}", tuple(children))


def close_lock_key(period: Period) -> str:
    """One close of a month active at a time."""
    return f"month_end_close:{period}"
