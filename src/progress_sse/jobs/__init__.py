"""The registry of job kinds: each has a params model, steps, a lock key and a coroutine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.context import JobContext
from progress_sse.errors import ValidationFailed
from progress_sse.progress import StepSpec

JobFn = Callable[[JobContext, Any], Awaitable[dict[str, Any] | None]]
# Checks that must answer the HTTP request (e.g. 409 for a locked period)
# before a run exists: (business sessions, tenant id, parsed params).
Precheck = Callable[[async_sessionmaker[AsyncSession], str, Any], Awaitable[None]]


def _no_lock(_params: Any) -> str | None:
    return None


@dataclass(frozen=True)
class JobKind:
    """A registered kind of job. `run` returns the run's JSON result summary."""

    name: str
    params: type[BaseModel]
    run: JobFn
    steps: tuple[StepSpec, ...] = ()
    lock_key: Callable[[Any], str | None] = field(default=_no_lock)
    resumable: bool = False
    precheck: Precheck | None = None


class JobRegistry:
    def __init__(self, kinds: Iterable[JobKind] = ()) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def replace(self, kind: JobKind) -> None:
        """Swap the implementation of a registered kind (a faulty twin in tests, a plugin)."""
        self.get(kind.name)
        self._kinds[kind.name] = kind

    @property
    def names(self) -> list[str]:
        return sorted(self._kinds)

    def get(self, name: str) -> JobKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise ValidationFailed(
                f"Unknown job kind {name!r}; known kinds: {', '.join(self.names)}.",
                code="unknown_kind",
                fields=[{"field": "kind", "message": "unknown job kind"}],
            ) from None

    def resumable(self, name: str) -> bool:
        """Whether runs of `name` may be resumed (False for a kind no longer registered)."""
        kind = self._kinds.get(name)
        return kind is not None and kind.resumable

    def validate(self, name: str, params: Any) -> tuple[JobKind, BaseModel]:
        """Parse `params` with the kind's model; a failure names every bad field."""
        kind = self.get(name)
        try:
            return kind, kind.params.model_validate(params if params is not None else {})
        except ValidationError as exc:
            fields = [
                {
                    "field": ".".join(["params", *(str(p) for p in err["loc"])]),
                    "message": err["msg"],
                }
                for err in exc.errors()
            ]
            summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
            raise ValidationFailed(f"Invalid params: {summary}", fields=fields) from None


def default_registry() -> JobRegistry:
    """A fresh registry with every built-in kind (no module-level mutable state)."""
    from progress_sse.jobs.asset_import.job import ASSET_IMPORT
    from progress_sse.jobs.demo import DEMO
    from progress_sse.jobs.depreciation.job import ASSET_DEPRECIATION

    return JobRegistry([ASSET_DEPRECIATION, ASSET_IMPORT, DEMO])


def load_business_models() -> None:
    """Import every job's business tables so they join `Base.metadata`."""
    from progress_sse.jobs.asset_import import models as _import  # noqa: F401
    from progress_sse.jobs.demo import models as _demo  # noqa: F401
    from progress_sse.jobs.depreciation import models as _depreciation  # noqa: F401
