"""`progress-sse runs report ID [--output FILE]`: a run's printable HTML page, saved."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from progress_sse.cli.client import Api, ApiError
from progress_sse.cli.remote import DEFAULT_URL, ApiKey, ServerUrl, api_errors
from progress_sse.cli.terminal import line

Output = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", help="the file to write (default: run-ID.html here; - for stdout)"
    ),
]


def report(
    run_id: str, output: Output = None, url: ServerUrl = DEFAULT_URL, key: ApiKey = ""
) -> None:
    """Save a run's report: who started it, its parameters, steps, timeline, outcome and result,
    as one HTML file that prints on A4 (open it in a browser)."""
    with api_errors():
        html: str = Api(url, key).call("GET", f"/api/runs/{run_id}/report", raw=True)
        if output == "-":
            sys.stdout.write(html)
            return
        path = Path(output) if output else Path(default_name(run_id))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
        except OSError as exc:
            raise ApiError(f"cannot write {path}: {exc.strerror or exc}") from None
    line(f"report of {run_id} written to {path}")


def default_name(run_id: str) -> str:
    """`run-<id>.html`; an id is letters and digits, anything else never leaves the folder."""
    return f"run-{re.sub(r'[^A-Za-z0-9_-]', '_', run_id)}.html"
