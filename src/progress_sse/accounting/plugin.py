"""The accounting application, registered as every plugin is: entry point
`progress_sse.jobs` -> `accounting = "progress_sse.accounting.plugin:PLUGIN"`."""

from __future__ import annotations

from pydantic import ValidationError

from progress_sse.accounting import api
from progress_sse.accounting.asset_import.job import ASSET_IMPORT
from progress_sse.accounting.cli import commands
from progress_sse.accounting.close import PERIOD_LOCK
from progress_sse.accounting.depreciation.job import ASSET_DEPRECIATION
from progress_sse.accounting.seed import seed_demo
from progress_sse.accounting.settings import AccountingSettings
from progress_sse.errors import Misconfigured
from progress_sse.plugins import Plugin


def _check_settings() -> None:
    """A currency that is not an ISO 4217 code stops start-up, not a posting later."""
    try:
        AccountingSettings()
    except ValidationError as exc:
        said = "; ".join(f"PROGRESS_SSE_ACCOUNTING_{'_'.join(map(str, e['loc'])).upper()}: "
                         f"{e['msg']}" for e in exc.errors())  # fmt: skip
        raise Misconfigured(said) from None


_check_settings()

PLUGIN = Plugin(
    name="accounting",
    kinds=(ASSET_DEPRECIATION, ASSET_IMPORT, PERIOD_LOCK),
    routes=tuple(api.routes()),
    commands=commands,
    demo=seed_demo,
)
