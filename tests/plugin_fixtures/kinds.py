"""Objects a `module:attribute` setting may name: a kind, a sequence of kinds, a plugin,
and things that are none of these."""

from __future__ import annotations

from pydantic import BaseModel

from progress_sse import JobContext, JobKind, Plugin, StepSpec


class Nothing(BaseModel):
    pass


async def done(_ctx: JobContext, _params: Nothing) -> dict[str, int]:
    return {"done": 1}


ONE = JobKind(name="one", params=Nothing, run=done, steps=(StepSpec("only", 0, 100),))
TWO = (
    JobKind(name="two_a", params=Nothing, run=done),
    JobKind(name="two_b", params=Nothing, run=done),
)
PLUGIN = Plugin(name="fixture", kinds=(JobKind(name="three", params=Nothing, run=done),))
CLASHING = JobKind(name="asset_depreciation", params=Nothing, run=done)
NOT_A_KIND = {"name": "dict"}
