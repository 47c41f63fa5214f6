"""The accounting application's own settings, read from `PROGRESS_SSE_ACCOUNTING_*`
(the engine's `Settings` knows nothing of books)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AccountingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROGRESS_SSE_ACCOUNTING_", extra="ignore")

    currency: str = Field(
        default="IDR",
        pattern=r"^[A-Z]{3}$",
        description="the ISO 4217 code of the books' amounts, shown next to every total",
    )
