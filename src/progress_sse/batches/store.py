"""Batches in the run store: create, read, cancel, resume, and the two hooks that move a
batch on in the very transactions that write its children's progress and endings.

A batch is a row of `runs` of kind `batch` (never pending, so no runner claims it) with
its children in `batch_children`. Every change of a batch happens with its row locked
(`SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one writer), in this order: a child's
run row, then the batch's row, never the other way round, so two children ending at
once on two hosts take turns and the counts stay exact. What follows a change is
decided by the pure rules of `plan.py`.

Events written for a batch are published once their transaction commits (a SQLAlchemy
`after_commit` listener on that session): the child's own ending may be committed by
the job's business transaction, which this module does not hold.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from progress_sse.batches import events as said
from progress_sse.batches import plan
from progress_sse.batches.models import BatchChild
from progress_sse.batches.plan import BatchSpec, ChildState
from progress_sse.errors import Conflict, ProgressSSEError
from progress_sse.jobs.kinds import JobRegistry
from progress_sse.runs.events import RunEvent, utc_now
from progress_sse.runs.models import BATCH_KIND, Run
from progress_sse.runs.statuses import RunStatus
from progress_sse.runs.store import NEVER_STARTED, Ending, NewRun, RunStore, reopen
from progress_sse.wire import ProgressEventJson, RunStatusName

log = logging.getLogger(__name__)
Publish = Callable[[str, list[RunEvent]], Awaitable[None]]
ACTIVE = (RunStatus.RUNNING.value, RunStatus.PAUSED.value)  # a batch is never pending
RESET_REASON = "skipped: an administrator reset the tenant"
UNSENT = "progress_sse.batch_events"  # the session's events to publish after COMMIT
STARTED = "progress_sse.batch_started"  # the session queued child runs


@dataclass(frozen=True, slots=True)
class NewBatch:
    tenant_id: str
    spec: BatchSpec
    created_by: str | None
    idempotency_key: str | None = None
    lock_key: str | None = None  # two batches on the same key may not be active at once


@dataclass(frozen=True, slots=True)
class ChildView:
    """A child and its current run (None until it starts)."""

    child: BatchChild
    run: Run | None


@dataclass(frozen=True, slots=True)
class BatchView:
    batch: Run
    children: list[ChildView]


def spec_json(spec: BatchSpec) -> dict[str, Any]:
    """The batch's spec as stored in its row's `params` (and compared for idempotency)."""
    return {
        "name": spec.name,
        "parallel": spec.parallel,
        "children": [
            {"name": c.name, "kind": c.kind, "params": dict(c.params), "weight": c.weight,
             "after": list(deps)}
            for c, deps in zip(spec.children, spec.dependencies, strict=True)
        ],
    }  # fmt: skip


class BatchStore:
    """Batch queries and hooks; `publish` hands committed events to the broker, and
    `on_started` hears that child runs were queued (the local runner looks at once)."""

    def __init__(
        self,
        runs: RunStore,
        registry: JobRegistry,
        publish: Publish,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.runs = runs
        self.registry = registry
        self.publish = publish
        self.on_started = on_started
        self._publishing: set[asyncio.Task[None]] = set()

    async def aclose(self) -> None:
        """Let publications in flight finish (the lifespan's end)."""
        await asyncio.gather(*self._publishing, return_exceptions=True)

    # -- creating and reading -----------------------------------------------------

    async def create(self, new: NewBatch) -> tuple[Run, bool]:
        """Insert the batch, its children and its first event, and start what may start,
        in one transaction; (batch, created). An `Idempotency-Key` seen before returns the
        earlier batch; an active batch on the same lock key raises `Conflict`."""
        request = NewRun(
            tenant_id=new.tenant_id, kind=BATCH_KIND, params=spec_json(new.spec),
            lock_key=new.lock_key, idempotency_key=new.idempotency_key,
            created_by=new.created_by,
        )  # fmt: skip

        async def add_children(session: AsyncSession, batch: Run) -> None:
            children = [
                BatchChild(
                    batch_id=batch.id, index=i, name=c.name, kind=c.kind,
                    params=dict(c.params), weight=c.weight, after=list(deps),
                    state=ChildState.PENDING.value, percentage=0.0, message="",
                )
                for i, (c, deps) in enumerate(
                    zip(new.spec.children, new.spec.dependencies, strict=True)
                )
            ]  # fmt: skip
            session.add_all(children)
            await session.flush()
            await self._settle(session, batch, children, None)

        try:
            return await self.runs.create_run(
                request, status=RunStatus.RUNNING, message="Starting.", announce=False,
                then=add_children,
            )  # fmt: skip
        except Conflict as exc:
            if exc.code != "run_active":
                raise
            raise Conflict(
                "A batch for the same work is already active.",
                code="run_active",
                batch_id=exc.extra.get("run_id"),
            ) from None

    async def get(self, tenant_id: str, batch_id: str) -> BatchView:
        """The caller's batch with its children and their runs (404 for anyone else's)."""
        batch = await self.runs.get_run(tenant_id, batch_id, batch=True)
        async with self.runs.sessions() as session:
            rows = await session.execute(
                sa.select(BatchChild, Run)
                .outerjoin(Run, Run.id == BatchChild.run_id)
                .where(BatchChild.batch_id == batch.id)
                .order_by(BatchChild.index)
            )
            children = [ChildView(child, run) for child, run in rows]
        return BatchView(batch, children)

    async def recent(
        self, tenant_id: str, *, status: RunStatus | None, limit: int, cursor: str | None
    ) -> list[BatchView]:
        """Newest first, each with its children (one query for all of them)."""
        batches = await self.runs.list_runs(
            tenant_id, status=status, limit=limit, cursor=cursor, batches=True
        )
        if not batches:
            return []
        async with self.runs.sessions() as session:
            rows = await session.execute(
                sa.select(BatchChild, Run)
                .outerjoin(Run, Run.id == BatchChild.run_id)
                .where(BatchChild.batch_id.in_([b.id for b in batches]))
                .order_by(BatchChild.batch_id, BatchChild.index)
            )
            by_batch: dict[str, list[ChildView]] = {b.id: [] for b in batches}
            for child, run in rows:
                by_batch[child.batch_id].append(ChildView(child, run))
        return [BatchView(b, by_batch[b.id]) for b in batches]

    # -- cancel and resume ----------------------------------------------------------

    async def cancel(self, tenant_id: str, batch_id: str) -> tuple[Run, list[str]]:
        """Skip what has not started, cancel the children still queued, and flag the
        running ones; their ids are returned (a runner of this process stops them at once).

        One transaction holds the batch's row: no child starts after it, and a queued
        child is cancelled in it (taken with SKIP LOCKED: one a worker is claiming right
        now is flagged with the running ones). Then one UPDATE flags the running children
        (their rows only), which stop at their next checkpoint and roll back; the batch
        ends when the last has stopped.
        """
        batch = await self.runs.get_run(tenant_id, batch_id, batch=True)
        async with self.runs.sessions.begin() as session:
            locked = await self._lock_active(session, batch)
            locked.status = RunStatus.RUNNING.value  # a paused one ends from running, now
            locked.cancel_requested = True
            queued = await session.execute(
                sa.select(Run.id)
                .where(Run.parent_id == batch.id, Run.status == RunStatus.PENDING.value)
                .with_for_update(skip_locked=True)
            )
            for run_id in list(queued.scalars()):  # each ending moves the batch on (the hook)
                event = await self.runs.end_in(session, run_id, NEVER_STARTED, RunStatus.PENDING)
                if event is not None:
                    await self._note(session, run_id, event)
            children = await self._children(session, batch.id)
            if locked.status == RunStatus.RUNNING.value:
                await self._settle(session, locked, children, None)
            running = [c.run_id for c in children if c.state == ChildState.RUNNING and c.run_id]
        if running:
            async with self.runs.sessions.begin() as session:
                await session.execute(
                    sa.update(Run)
                    .where(Run.id.in_(running), Run.status == RunStatus.RUNNING.value)
                    .values(cancel_requested=True)
                )
        return await self.runs.get_run(tenant_id, batch_id, batch=True), running

    async def pause(self, tenant_id: str, batch_id: str) -> Run:
        """Start no more children: the running ones finish, and the batch is `paused` once
        none is running (at once when none is). A paused batch stays as it is."""
        batch = await self.runs.get_run(tenant_id, batch_id, batch=True)
        async with self.runs.sessions.begin() as session:
            locked = await self._lock_active(session, batch)
            if locked.cancel_requested:
                raise Conflict("The batch is being cancelled.", code="cancelling")
            if locked.status == RunStatus.RUNNING.value and not locked.pause_requested:
                locked.pause_requested = True
                await self._settle(session, locked, await self._children(session, batch.id), None)
        return await self.runs.get_run(tenant_id, batch_id, batch=True)

    async def fail_paused(self, tenant_id: str, by: str) -> int:
        """An admin's reset: every paused batch of the tenant ends `failed`, what had not
        started skipped (its running children were failed by the reset itself)."""
        async with self.runs.sessions() as session:
            ids = list(
                (
                    await session.execute(
                        sa.select(Run.id).where(
                            Run.tenant_id == tenant_id,
                            Run.kind == BATCH_KIND,
                            Run.status == RunStatus.PAUSED.value,
                        )
                    )
                ).scalars()
            )
        ended = 0
        for batch_id in ids:
            async with self.runs.sessions.begin() as session:
                locked = await self._lock(session, batch_id)
                if locked is None or locked.status != RunStatus.PAUSED.value:
                    continue
                children = await self._children(session, batch_id)
                for child in children:
                    if child.state == ChildState.PENDING.value:
                        child.state, child.reason = ChildState.SKIPPED.value, RESET_REASON
                locked.status = RunStatus.RUNNING.value  # it ends from running, now
                message = f"Failed: reset by an administrator while paused ({by})."
                await self._end(session, locked, children, "failed", message, "reset_by_admin")
                ended += 1
        return ended

    async def resume(self, tenant_id: str, batch_id: str) -> Run:
        """Run again what did not succeed: a failed or cancelled child of a resumable kind
        resumes its own run (from its last committed chunk), any other starts a new run,
        and a child that succeeded is never run twice. A paused batch continues."""
        batch = await self.runs.get_run(tenant_id, batch_id, batch=True)
        try:
            async with self.runs.sessions.begin() as session:
                locked = await self._lock(session, batch.id)
                if locked is None or locked.status not in ("failed", "cancelled", "paused"):
                    raise Conflict(
                        "Only a failed, cancelled or paused batch can be resumed; this one "
                        f"is {locked.status if locked is not None else batch.status}.",
                        code="not_resumable",
                    )
                children = await self._children(session, batch.id)
                # A paused batch goes on as it was: only what did not start yet runs.
                states = said.states(children)
                again = states if locked.status == "paused" else plan.resumed(states)
                for child, state in zip(children, again, strict=True):
                    if state is ChildState.PENDING:
                        child.state, child.reason = state.value, None
                reopen(locked, RunStatus.RUNNING, "Resumed.")
                await session.flush()  # an active batch on the same lock key: refused here
                await self._settle(session, locked, children, None)
        except IntegrityError:
            raise Conflict(
                "Another batch for the same work is active; resume this one after it ends.",
                code="run_active",
            ) from None
        return await self.runs.get_run(tenant_id, batch_id, batch=True)

    # -- the hooks: a child's progress and ending move its batch on -----------------

    async def child_progress(
        self, session: AsyncSession, batch_id: str, run_id: str, latest: ProgressEventJson
    ) -> None:
        """The run store's progress hook: the child's progress, weighted into the batch's.

        It never waits for the batch's row: when another transaction holds it (a sibling
        ending, or writing its own progress), only this child's row is written, and the
        batch's next event shows it. Progress of many children never queues on one row.
        """
        moved = {
            "percentage": float(latest["percentage"]),
            "message": latest["message"],
            "step": dict(latest["step"]) if latest["step"] else None,
        }
        batch = await self._lock(session, batch_id, skip_locked=True)
        if batch is None:
            await session.execute(
                sa.update(BatchChild)
                .where(
                    BatchChild.batch_id == batch_id,
                    BatchChild.run_id == run_id,
                    BatchChild.state == ChildState.RUNNING.value,
                )
                .values(**moved)
            )
            return
        if batch.status != RunStatus.RUNNING.value:
            return
        children = await self._children(session, batch_id)
        child = next((c for c in children if c.run_id == run_id), None)
        if child is None or child.state != ChildState.RUNNING.value:
            return
        for name, value in moved.items():
            setattr(child, name, value)
        await self._event(session, batch, children, child, said.progress_message(child))

    async def child_finished(self, session: AsyncSession, run: Run) -> None:
        """The run store's finish hook: record how a child ended, skip what can no longer
        run, start what now may, and end the batch when nothing is left."""
        if run.parent_id is None or run.kind == BATCH_KIND:
            return
        batch = await self._lock(session, run.parent_id)
        if batch is None or batch.status != RunStatus.RUNNING.value:
            return  # ended meanwhile (an admin reset): nothing moves on
        children = await self._children(session, batch.id)
        child = next((c for c in children if c.run_id == run.id), None)
        if child is None:
            return  # an earlier run of a child that was started anew
        state = said.CHILD_STATE_OF_RUN[RunStatus(run.status)]
        child.state = state.value
        child.reason = run.message if state is not ChildState.SUCCEEDED else None
        child.percentage = float(run.percentage)
        if state is ChildState.SUCCEEDED:
            child.step = None  # nothing left in progress
        elif child.step is not None and state is ChildState.FAILED:
            child.step = {**child.step, "status": "failed"}  # where it failed
        await self._settle(session, batch, children, child)

    # -- moving a batch on -----------------------------------------------------------

    async def _settle(
        self, session: AsyncSession, batch: Run, children: list[BatchChild],
        moved: BatchChild | None,
    ) -> None:  # fmt: skip
        """Apply the rules until nothing changes (a child that cannot start fails, and
        that may skip others), then write one event: the batch's progress, or its end."""
        cancelling = batch.cancel_requested
        pausing = batch.pause_requested and not cancelling  # nothing more starts
        deps = [c.after for c in children]
        names = [c.name for c in children]
        while True:
            skips, starts = plan.advance(deps, said.states(children), names, cancelling=cancelling)
            for i, reason in skips.items():
                children[i].state, children[i].reason = ChildState.SKIPPED.value, reason
            if pausing:
                break
            started = [await self._start(session, batch, children[i]) for i in starts]
            if all(started):
                break
        await session.flush()
        outcome = plan.ending(deps, said.states(children), cancelling=cancelling)
        if outcome is not None:
            await self._end(session, batch, children, outcome)
        elif cancelling:
            await self._event(session, batch, children, moved, said.cancelling_message(children))
        elif pausing and not any(c.state == ChildState.RUNNING for c in children):
            batch.status, batch.pause_requested = RunStatus.PAUSED.value, False
            await self._event(
                session, batch, children, moved, said.paused_message(children), "paused"
            )
        elif pausing:
            await self._event(session, batch, children, moved, said.pausing_message(children))
        else:
            await self._event(session, batch, children, moved, said.moved_message(children, moved))

    async def _start(self, session: AsyncSession, batch: Run, child: BatchChild) -> bool:
        """Queue the child's run: its earlier run again if its kind can resume, else a new
        one. False when it cannot start (then it has failed, with the reason)."""
        try:
            kind = self.registry.get(child.kind)
            params: BaseModel = kind.params.model_validate(child.params)
        except (ProgressSSEError, ValueError):
            return self._cannot_start(child, f"its kind {child.kind!r} or its params are no "
                                             "longer valid here")  # fmt: skip
        try:  # a kind's own functions: a bug there fails this child, not the one that ended
            lock_key, steps = kind.lock_key(params), kind.steps_for(params)
        except Exception:
            log.exception(
                "batch %s: child %d (%s) could not start", batch.id, child.index, kind.name
            )
            return self._cannot_start(child, "it could not start: its kind failed to prepare it "
                                             f"(see the server log, batch {batch.id})")  # fmt: skip
        earlier = await session.get(Run, child.run_id) if child.run_id else None
        try:
            async with session.begin_nested():
                if (
                    earlier is not None
                    and kind.resumable
                    and earlier.status in ("failed", "cancelled")
                ):
                    await self._note(session, earlier.id, await self.runs.requeue(session, earlier))
                    run = earlier
                else:
                    run = await self.runs.insert_run(session, NewRun(
                        tenant_id=batch.tenant_id, kind=kind.name, params=child.params,
                        lock_key=lock_key, idempotency_key=None,
                        created_by=batch.created_by, steps=steps,
                        parent_id=batch.id,
                    ))  # fmt: skip
        except IntegrityError:
            return self._cannot_start(
                child, "it could not start: another run for the same work is active"
            )
        child.run_id, child.state, child.reason = run.id, ChildState.RUNNING.value, None
        child.percentage, child.message, child.step = float(run.percentage), "", None
        session.info[STARTED] = True
        self._on_commit(session)
        return True

    @staticmethod
    def _percentage(children: Sequence[BatchChild]) -> float:
        weights = [c.weight for c in children]
        return plan.percentage(weights, said.states(children), [c.percentage for c in children])

    @staticmethod
    def _count(batch: Run, children: Sequence[BatchChild]) -> None:
        """The batch row's counters, as a run's: children ended, skipped, all of them."""
        tally = said.counts_of(children)
        batch.processed, batch.skipped, batch.total = (
            said.ended(tally),
            tally["skipped"],
            len(children),
        )

    @staticmethod
    def _cannot_start(child: BatchChild, reason: str) -> bool:
        child.state, child.reason = ChildState.FAILED.value, reason
        return False

    async def _event(
        self, session: AsyncSession, batch: Run, children: Sequence[BatchChild],
        current: BatchChild | None, message: str, status: RunStatusName = "running",
    ) -> None:  # fmt: skip
        """A progress event of the batch: the weighted percentage, counts, the current child."""
        percentage = self._percentage(children)
        now = utc_now()
        batch.seq += 1
        batch.percentage, batch.message = percentage, message
        self._count(batch, children)
        data = said.progress_data(
            batch_id=batch.id, seq=batch.seq, percentage=percentage, message=message,
            children=children, current=current, ts=now, status=status,
        )  # fmt: skip
        event = RunEvent(batch.id, batch.seq, None, dict(data))
        await session.flush()
        await self.runs.insert_events(session, [event], now)
        await self._note(session, batch.id, event)

    async def _end(
        self, session: AsyncSession, batch: Run, children: Sequence[BatchChild],
        outcome: plan.Outcome, message: str | None = None, code: str | None = None,
    ) -> None:  # fmt: skip
        """End the batch's row as a run ends (its terminal event, its webhooks), with every
        child's outcome in the event and in the row's `result`."""
        status = said.OUTCOME_STATUS[outcome]
        message = message or said.ending_message(outcome, children)
        batch.percentage = self._percentage(children)  # `end_in` keeps it, short of complete
        tally = said.counts_of(children)
        children_out = said.outcomes(children)
        code = (
            code or {"completed": None, "failed": "child_failed", "cancelled": "cancelled"}[outcome]
        )
        ending = Ending(
            status, message, code, error=message if outcome == "failed" else None,
            result={"counts": dict(tally), "children": list(children_out)},
            extra={"counts": tally, "children": children_out},
        )  # fmt: skip
        self._count(batch, children)
        await session.flush()
        event = await self.runs.end_in(session, batch.id, ending)
        if event is not None:
            await self._note(session, batch.id, event)

    # -- reading under the lock, and publishing after COMMIT ---------------------------

    @staticmethod
    async def _lock(session: AsyncSession, batch_id: str, skip_locked: bool = False) -> Run | None:
        """The batch's row, locked for this transaction (None with `skip_locked` when another
        holds it)."""
        query = sa.select(Run).where(Run.id == batch_id, Run.kind == BATCH_KIND)
        query = query.with_for_update(skip_locked=skip_locked)
        return (await session.execute(query)).scalar_one_or_none()

    @classmethod
    async def _lock_active(cls, session: AsyncSession, batch: Run) -> Run:
        """The batch's row, locked, if it has not ended (else `409 run_finished`)."""
        locked = await cls._lock(session, batch.id)
        if locked is None or locked.status not in ACTIVE:
            status = locked.status if locked is not None else batch.status
            raise Conflict(f"The batch has already ended ({status}).", code="run_finished")
        return locked

    @staticmethod
    async def _children(session: AsyncSession, batch_id: str) -> list[BatchChild]:
        rows = await session.execute(
            sa.select(BatchChild).where(BatchChild.batch_id == batch_id).order_by(BatchChild.index)
        )
        return list(rows.scalars())

    async def _note(self, session: AsyncSession, run_id: str, event: RunEvent) -> None:
        """Keep `event` to publish once this session's transaction commits."""
        unsent: dict[str, list[RunEvent]] = session.info.setdefault(UNSENT, {})
        unsent.setdefault(run_id, []).append(event)
        self._on_commit(session)

    def _on_commit(self, session: AsyncSession) -> None:
        sync = session.sync_session
        if not sa.event.contains(sync, "after_commit", self._committed):
            sa.event.listen(sync, "after_commit", self._committed)
            sa.event.listen(sync, "after_rollback", self._rolled_back)

    def _committed(self, session: Session) -> None:
        if session.info.pop(STARTED, False) and self.on_started is not None:
            self.on_started()
        unsent = session.info.pop(UNSENT, None)
        if not unsent:
            return
        task = asyncio.get_running_loop().create_task(self._publish(unsent))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    @staticmethod
    def _rolled_back(session: Session) -> None:
        session.info.pop(UNSENT, None)
        session.info.pop(STARTED, None)

    async def _publish(self, unsent: dict[str, list[RunEvent]]) -> None:
        for run_id, events in unsent.items():
            try:
                await self.publish(run_id, events)
            except Exception:  # watchers catch up from the table on their next read
                log.warning("could not publish the events of %s", run_id, exc_info=True)
