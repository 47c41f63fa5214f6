"""The registry of job kinds: each has a params model, steps, a lock key and a coroutine."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.errors import ValidationFailed
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.report import ReportSection
from progress_sse.runs.models import BATCH_KIND
from progress_sse.runs.progress import StepSpec, validate_steps

log = logging.getLogger(__name__)
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")

JobFn = Callable[[JobContext, Any], Awaitable[dict[str, Any] | None]]
# Steps known only from the params (one per table of a sync): a function of them.
StepsOf = Callable[[Any], Sequence[StepSpec]]
# Checks that must answer the HTTP request (e.g. 409 for a locked period)
# before a run exists: (business sessions, tenant id, parsed params).
Precheck = Callable[[async_sessionmaker[AsyncSession], str, Any], Awaitable[None]]
# A completed run's report sections: (its result, its params as stored) -> sections.
Reporter = Callable[[dict[str, Any], dict[str, Any]], Sequence[ReportSection]]


def _no_lock(_params: Any) -> str | None:
    return None


@dataclass(frozen=True)
class JobKind:
    """A kind of job: `run(ctx, params)` does the work and returns the run's JSON result.

    `params` (a pydantic model) validates what the API, the CLI and the page
    send, and its JSON schema draws the page's start form. `steps` divide the
    bar: a tuple, or a function of the params. `lock_key(params)` names what
    two runs may not do at once (`None`: no lock). A `resumable` kind commits
    in chunks (`ctx.chunk()`) and may be resumed after a failure. A `pausable`
    kind is a resumable one whose every chunk end is a safe place to stop: asked
    to pause, it stops there, and a resume continues with the next chunk.
    """

    name: str
    params: type[BaseModel]
    run: JobFn
    steps: tuple[StepSpec, ...] | StepsOf = ()
    lock_key: Callable[[Any], str | None] = field(default=_no_lock)
    resumable: bool = False
    pausable: bool = False
    precheck: Precheck | None = None
    admin_only: bool = False  # only an admin key may start (or resume) one: 403 for others
    title: str = ""  # what people call it, on the page and in the CLI (default: the name)
    description: str = ""
    # A completed run's result in one or two sentences a person reads (the CLI prints it
    # after a watch; the API shows it as the run's `summary`). Pure: the result only.
    summarize: Callable[[dict[str, Any]], str] | None = None
    # A completed run's own sections of its printable report (`GET /api/runs/{id}/report`),
    # from its result and params; without it the result is shown as a table. Pure.
    report: Reporter | None = None

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"job kind name {self.name!r}: 1-64 of a-z, 0-9, _ and -")
        if self.name == BATCH_KIND:
            raise ValueError(f"job kind name {self.name!r} is reserved for batches")
        if self.pausable and not self.resumable:
            raise ValueError(f"job kind {self.name!r}: a pausable kind must be resumable")
        if not callable(self.steps):
            validate_steps(self.steps)

    def steps_for(self, params: BaseModel) -> tuple[StepSpec, ...]:
        """The steps of a run with these params, checked (unique names, ranges in order)."""
        if not callable(self.steps):
            return self.steps
        steps = tuple(self.steps(params))
        validate_steps(steps)
        return steps


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

    def summary(self, name: str, result: dict[str, Any] | None) -> str | None:
        """The kind's sentence for a completed run's result; None without one. A summarizer
        that fails (an old result, a bug) costs the sentence, never the answer."""
        kind = self._kinds.get(name)
        if kind is None or kind.summarize is None or result is None:
            return None
        try:
            return kind.summarize(result)
        except Exception:
            log.warning("job kind %r could not summarize a result", name, exc_info=True)
            return None

    def report(
        self, name: str, result: dict[str, Any] | None, params: dict[str, Any]
    ) -> list[ReportSection] | None:
        """The kind's report sections for a completed run's result; None without them (the
        report then shows the result as a table). A reporter that fails costs its sections,
        never the report."""
        kind = self._kinds.get(name)
        if kind is None or kind.report is None or result is None:
            return None
        try:
            return list(kind.report(result, params))
        except Exception:
            log.warning("job kind %r could not report on a result", name, exc_info=True)
            return None

    def admin_only(self, name: str) -> bool:
        """Whether only an admin may start `name` (True for a kind no longer registered:
        nobody should start what cannot be checked)."""
        kind = self._kinds.get(name)
        return kind is None or kind.admin_only

    def resumable(self, name: str) -> bool:
        """Whether runs of `name` may be resumed (False for a kind no longer registered)."""
        kind = self._kinds.get(name)
        return kind is not None and kind.resumable

    def pausable(self, name: str) -> bool:
        """Whether runs of `name` stop at a chunk's end when asked (False when unknown)."""
        kind = self._kinds.get(name)
        return kind is not None and kind.pausable

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
