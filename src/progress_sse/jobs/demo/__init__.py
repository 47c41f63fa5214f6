"""The `demo` job: five steps over N items, each written in one business transaction.

It exists so the whole path (steps, progress, commit-then-complete,
rollback-then-error, cancel) is visible before any domain job.
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from progress_sse.errors import JobError
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.demo.models import DemoItem
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.events import utc_now
from progress_sse.runs.progress import StepSpec

STEPS = (
    StepSpec("init", 0, 5),
    StepSpec("prepare", 5, 15),
    StepSpec("load", 15, 35),
    StepSpec("process", 35, 90),
    StepSpec("finalize", 90, 100),
)


class DemoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: int = Field(default=20, ge=1, le=1_000_000)
    delay_ms: int = Field(default=100, ge=0, le=60_000, description="pause per item")
    fail_at: int | None = Field(default=None, ge=1, description="raise at this item")
    hold_ms: int = Field(
        default=0, ge=0, le=600_000, description="keep the business transaction open this long"
    )
    lock: str = Field(default="demo", min_length=1, max_length=100, description="lock key")


def demo_lock_key(params: DemoParams) -> str:
    return f"demo:{params.lock}"


async def run_demo(ctx: JobContext, params: DemoParams) -> dict[str, Any]:
    n = params.items
    async with ctx.step("init", message="Checking parameters"):
        pass
    async with ctx.step("prepare", message="Preparing"):
        session = await ctx.session()
    async with ctx.step("load", message="Clearing earlier rows"):
        await session.execute(sa.delete(DemoItem).where(DemoItem.run_id == ctx.run_id))
    async with ctx.step("process", total=n, message=f"Processing item 1 of {n}"):
        total_value = 0
        rows = []
        for i in range(1, n + 1):
            if params.fail_at == i:
                raise JobError(
                    f"Item {i} could not be processed (demo failure).", code="demo_failure"
                )
            rows.append(
                {
                    "tenant_id": ctx.tenant_id,
                    "run_id": ctx.run_id,
                    "item_no": i,
                    "value": i * i,
                    "created_at": utc_now(),
                }
            )
            total_value += i * i
            if len(rows) >= 500:
                await session.execute(sa.insert(DemoItem), rows)
                rows = []
            if params.delay_ms:
                await asyncio.sleep(params.delay_ms / 1000)
            await ctx.progress(processed=i, message=f"Processing item {i} of {n}")
        if rows:
            await session.execute(sa.insert(DemoItem), rows)
    await ctx.enter_step("finalize", message="Committing")
    await session.flush()
    await _hold(ctx, params.hold_ms)
    # The runner commits after we return, then marks the run completed.
    return {"items": n, "total_value": total_value}


async def _hold(ctx: JobContext, hold_ms: int) -> None:
    """Keep the (write) transaction open, as a slow month-end posting would."""
    deadline = asyncio.get_running_loop().time() + hold_ms / 1000
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        await asyncio.sleep(min(left, 0.05))
        await ctx.checkpoint()


def summarize(result: dict[str, Any]) -> str:
    return f"Processed {result['items']:,} items (total value {result['total_value']:,})."


DEMO = JobKind(
    name="demo",
    title="Demo",
    description="Counts through items with a pause after each, in one transaction: for trying "
    "the bar, the stream, cancel and failures.",
    summarize=summarize,
    params=DemoParams,
    run=run_demo,
    steps=STEPS,
    lock_key=demo_lock_key,
)
