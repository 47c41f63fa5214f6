"""The accounting application, registered as every plugin is: entry point
`progress_sse.jobs` -> `accounting = "progress_sse.accounting.plugin:PLUGIN"`."""

from __future__ import annotations

from progress_sse.accounting import api
from progress_sse.accounting.asset_import.job import ASSET_IMPORT
from progress_sse.accounting.cli import commands
from progress_sse.accounting.depreciation.job import ASSET_DEPRECIATION
from progress_sse.accounting.seed import seed_demo
from progress_sse.plugins import Plugin

PLUGIN = Plugin(
    name="accounting",
    kinds=(ASSET_DEPRECIATION, ASSET_IMPORT),
    routes=tuple(api.routes()),
    commands=commands,
    demo=seed_demo,
)
