"""The parameters of an `asset_depreciation` run (validated at the API, the CLI and the runner)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from progress_sse.accounting.depreciation.periods import Period


class DepreciationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    dry_run: bool = Field(
        default=False, description="the same steps and summary; posts, locks and numbers nothing"
    )
    allow_earlier_unposted: bool = Field(
        default=False,
        description="post although an earlier month that needed a posting has none (recorded)",
    )

    @property
    def period(self) -> Period:
        return Period(self.year, self.month)
