"""What every operator command shares: one clear error line and exit code 1."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError

from progress_sse.errors import ProgressSSEError

T = TypeVar("T")


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine; errors become one clear line and exit code 1."""
    try:
        return asyncio.run(coro)
    except ProgressSSEError as exc:
        raise fail(exc.message) from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(
            f"database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from None
