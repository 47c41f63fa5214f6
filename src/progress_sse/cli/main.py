"""The `progress-sse` command line.

`runs …` and `batches …` talk to a server over HTTP and need none of the
database or web stack, so they are dispatched before those are imported: a
watch or a list starts in a fraction of the time the operator commands take.
"""

from __future__ import annotations

import sys


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command == "runs":
        from progress_sse.cli.runs import runs_app

        runs_app(args=sys.argv[2:], prog_name="progress-sse runs")
        return
    if command == "batches":
        from progress_sse.cli.batches import batches_app

        batches_app(args=sys.argv[2:], prog_name="progress-sse batches")
        return
    from pydantic import ValidationError

    from progress_sse.cli.operator import app
    from progress_sse.errors import Misconfigured
    from progress_sse.plugins import discover
    from progress_sse.settings import Settings

    try:
        for commands in discover(Settings()).commands():  # e.g. accounting's `periods`
            app.add_typer(commands)
        app()
    except Misconfigured as exc:  # a plugin that cannot load: say which
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except ValidationError as exc:  # a PROGRESS_SSE_* setting that cannot work: say which
        for error in exc.errors():
            name = "PROGRESS_SSE_" + "_".join(str(p) for p in error["loc"]).upper()
            where = f"{name}: " if error["loc"] else ""
            print(f"error: {where}{error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        sys.exit(1)
