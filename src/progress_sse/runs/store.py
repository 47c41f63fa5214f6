"""The run store: every read and write of runs, steps and events (short sessions only)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.errors import Conflict, NotFound
from progress_sse.runs.events import RunEvent, utc_now
from progress_sse.runs.ids import new_run_id
from progress_sse.runs.models import BATCH_KIND, Run, RunEventRow, RunStep
from progress_sse.runs.notify import encode_notice
from progress_sse.runs.progress import StepSpec, StepState, progress_payload, terminal_payload
from progress_sse.runs.statuses import (
    ACTIVE_STATUSES,
    TERMINAL_EVENT_FOR,
    EventName,
    RunStatus,
    can_transition,
)
from progress_sse.storage import db
from progress_sse.wire import ProgressEventJson

NOTIFY_CHANNEL = "progress_sse_events"
WORKER_LOCK = 0x5057_4B52  # advisory-lock namespace of workers ("PWKR"), see jobs/ownership.py


class LeaseLost(Exception):
    """This process no longer owns the run (it was finished or taken elsewhere)."""


class RowBusy(Exception):
    """Another transaction holds the run's row: its write was left out of a group."""


@dataclass(frozen=True, slots=True)
class NewRun:
    tenant_id: str
    kind: str
    params: dict[str, Any]
    lock_key: str | None
    idempotency_key: str | None
    created_by: str | None
    steps: Sequence[StepSpec] = ()
    parent_id: str | None = None  # the batch this run is a child of


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a run failed: the message people see, a stable code, the detail (may equal it)."""

    message: str
    code: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Ending:
    """A terminal state to record: the status, what it says, and the closing step rows."""

    status: RunStatus
    message: str
    code: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    steps: Sequence[dict[str, Any]] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # more fields of the event (a batch's)


@dataclass(frozen=True, slots=True)
class ProgressWrite:
    """One run's progress write: its new events, run columns and step rows, fenced by `lease`."""

    run_id: str
    lease: str
    events: Sequence[RunEvent]
    run_values: Mapping[str, Any]
    steps: Sequence[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Requests:
    """What was asked of a running run from outside its worker, read at each progress write."""

    cancel: bool = False
    pause: bool = False


NEVER_STARTED = Ending(RunStatus.CANCELLED, "Cancelled before it started.", "cancelled")
CANCELLED_WHILE_PAUSED = Ending(
    RunStatus.CANCELLED,
    "Cancelled while paused; what it committed before the pause stays.",
    "cancelled",
)
PAUSED_BEFORE_START = "Paused before it started; resume it to start."
RESUMED = "Resumed; waiting for a worker"
CONTINUED = "Continuing; waiting for a worker"

# Runs in the transaction that ends a run, after the run row and its event are written.
FinishHook = Callable[[AsyncSession, Run], Awaitable[object]]
# Runs in the transaction that writes a batch child's progress: (session, the batch's id,
# the child run's id, its newest progress event).
ProgressHook = Callable[[AsyncSession, str, str, ProgressEventJson], Awaitable[object]]


def to_event(row: RunEventRow) -> RunEvent:
    return RunEvent(
        run_id=row.run_id,
        seq=row.seq,
        event=EventName(row.event) if row.event else None,
        data=row.data,
    )


# The hot write path uses the tables (Core), not the ORM: an ORM-enabled UPDATE also
# evaluates its criteria against the session's objects, a cost per progress write.
RUNS: sa.Table = Run.__table__  # type: ignore[assignment]
EVENTS: sa.Table = RunEventRow.__table__  # type: ignore[assignment]
STEPS: sa.Table = RunStep.__table__  # type: ignore[assignment]


def _event_row(event: RunEvent, now: datetime) -> dict[str, Any]:
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "event": event.event.value if event.event else None,
        "data": event.data,
        "created_at": now,
    }


class RunStore:
    """Run-store queries; each public method is one short unit of work."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        finish_hooks: Sequence[FinishHook] = (),
        progress_hooks: Sequence[ProgressHook] = (),
    ) -> None:
        self.sessions = sessions
        # Called in the transaction that ends a run (webhooks' outbox and batches subscribe).
        self.finish_hooks = tuple(finish_hooks)
        # Called in the transaction that writes a batch child's progress (batches subscribe).
        self.progress_hooks = tuple(progress_hooks)
        # Signs this process's NOTIFYs: its own events reach its hub directly.
        self.origin = secrets.token_hex(4)
        self.events_written = 0
        self.progress_writes = 0  # runs' progress writes (metrics, benchmarks)
        self.progress_commits = 0  # the transactions that carried them (group commit)

    # -- creating and reading -------------------------------------------------

    async def create_run(
        self, new: NewRun, *, status: RunStatus = RunStatus.PENDING,
        message: str = "Waiting for a worker", announce: bool = True,
        then: Callable[[AsyncSession, Run], Awaitable[object]] | None = None,
    ) -> tuple[Run, bool]:  # fmt: skip
        """Insert a pending run and its first event; (run, created).

        An `Idempotency-Key` seen before returns the earlier run; an active
        run on the same lock key raises `Conflict` naming it.
        """
        if new.idempotency_key:
            earlier = await self.by_idempotency_key(new.tenant_id, new.idempotency_key)
            if earlier is not None:
                return self.check_idempotent(earlier, new), False
        try:
            async with self.sessions.begin() as session:
                run = await self.insert_run(
                    session, new, status=status, message=message, announce=announce
                )
                if then is not None:  # more rows in the same transaction (a batch's children)
                    await then(session, run)
        except IntegrityError:
            return await self.explain_conflict(new), False
        return run, True

    async def insert_run(
        self, session: AsyncSession, new: NewRun, *, status: RunStatus = RunStatus.PENDING,
        message: str = "Waiting for a worker", announce: bool = True,
    ) -> Run:  # fmt: skip
        """Insert a run, its first event and its declared steps in `session`'s transaction
        (an active run on the same lock key raises `IntegrityError` at the flush). Without
        `announce` the caller writes the first event (seq 1): a batch's carries its counts."""
        now = utc_now()
        run = Run(
            id=new_run_id(),
            tenant_id=new.tenant_id,
            kind=new.kind,
            params=new.params,
            status=status.value,
            percentage=0.0,
            message=message,
            processed=0,
            skipped=0,
            seq=1 if announce else 0,
            attempt=0,
            lock_key=new.lock_key,
            active_lock=new.lock_key,
            idempotency_key=new.idempotency_key,
            cancel_requested=False,
            pause_requested=False,
            created_at=now,
            started_at=now if status is RunStatus.RUNNING else None,
            created_by=new.created_by,
            parent_id=new.parent_id,
        )
        session.add(run)
        await session.flush()
        if announce:
            await self.insert_events(
                session, [RunEvent(run.id, 1, None, _snapshot_data(run, now))], now
            )
        if new.steps:  # declared steps are visible as `pending` from the start
            await session.execute(
                sa.insert(RunStep),
                [
                    StepState(index=i, spec=spec).as_row() | {"run_id": run.id}
                    for i, spec in enumerate(new.steps)
                ],
            )
        return run

    async def by_idempotency_key(self, tenant_id: str, key: str) -> Run | None:
        async with self.sessions() as session:
            return (
                await session.execute(
                    sa.select(Run).where(Run.tenant_id == tenant_id, Run.idempotency_key == key)
                )
            ).scalar_one_or_none()

    @staticmethod
    def check_idempotent(earlier: Run, new: NewRun) -> Run:
        if earlier.kind != new.kind or earlier.params != new.params:
            raise Conflict(
                "This Idempotency-Key was already used for a different request.",
                code="idempotency_key_reused",
                run_id=earlier.id,
            )
        return earlier

    async def explain_conflict(self, new: NewRun) -> Run:
        """Turn a unique-constraint failure into the right answer after the race."""
        if new.idempotency_key:
            earlier = await self.by_idempotency_key(new.tenant_id, new.idempotency_key)
            if earlier is not None:
                return self.check_idempotent(earlier, new)
        async with self.sessions() as session:
            active = (
                await session.execute(
                    sa.select(Run.id).where(
                        Run.tenant_id == new.tenant_id, Run.active_lock == new.lock_key
                    )
                )
            ).scalar_one_or_none()
        raise Conflict(
            "A run for the same work is already active.",
            code="run_active",
            run_id=active,
        )

    async def get_run(self, tenant_id: str, run_id: str, *, batch: bool = False) -> Run:
        """The caller's run (with `batch`, the caller's batch); another tenant's is
        indistinguishable from a missing one, and so is a batch asked for as a run."""
        kind = Run.kind == BATCH_KIND if batch else Run.kind != BATCH_KIND
        async with self.sessions() as session:
            run = (
                await session.execute(
                    sa.select(Run).where(Run.id == run_id, Run.tenant_id == tenant_id, kind)
                )
            ).scalar_one_or_none()
        if run is None:
            if batch:
                raise NotFound("No such batch.", code="batch_not_found")
            raise NotFound("No such run.", code="run_not_found")
        return run

    async def get_run_any_tenant(self, run_id: str) -> Run | None:
        async with self.sessions() as session:
            return await session.get(Run, run_id)

    async def get_steps(self, run_id: str) -> list[RunStep]:
        async with self.sessions() as session:
            rows = await session.execute(
                sa.select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.index)
            )
            return list(rows.scalars())

    async def list_runs(
        self,
        tenant_id: str,
        *,
        status: RunStatus | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        in_batch: bool | None = None,
        batches: bool = False,
    ) -> list[Run]:
        """Newest first; `cursor` is the id of the last run of the previous page. Batches are
        listed apart (`batches=True` lists only them); `in_batch` keeps only their children
        (True) or leaves them out (False)."""
        query = sa.select(Run).where(
            Run.tenant_id == tenant_id,
            Run.kind == BATCH_KIND if batches else Run.kind != BATCH_KIND,
        )
        if in_batch is not None:
            query = query.where(Run.parent_id.is_not(None) if in_batch else Run.parent_id.is_(None))
        if status is not None:
            query = query.where(Run.status == status.value)
        if kind is not None:
            query = query.where(Run.kind == kind)
        if cursor is not None:
            query = query.where(Run.id < cursor)
        async with self.sessions() as session:
            rows = await session.execute(query.order_by(Run.id.desc()).limit(limit))
            return list(rows.scalars())

    async def active_for_lock(self, tenant_id: str, lock_key: str) -> Run | None:
        """The pending or running run that holds `lock_key`, if any."""
        async with self.sessions() as session:
            query = sa.select(Run).where(Run.tenant_id == tenant_id, Run.active_lock == lock_key)
            return (await session.execute(query)).scalar_one_or_none()

    async def active_run(self, tenant_id: str, kind: str | None) -> Run | None:
        """The newest pending or running run of the tenant (of `kind`, if given)."""
        query = sa.select(Run).where(
            Run.tenant_id == tenant_id,
            Run.status.in_([s.value for s in ACTIVE_STATUSES]),
            Run.kind != BATCH_KIND,
        )
        if kind is not None:
            query = query.where(Run.kind == kind)
        async with self.sessions() as session:
            rows = await session.execute(query.order_by(Run.id.desc()).limit(1))
            return rows.scalar_one_or_none()

    async def events_after(self, run_id: str, after_seq: int, limit: int) -> list[RunEvent]:
        """Persisted events with seq > after_seq, oldest first (uses the (run, seq) index)."""
        async with self.sessions() as session:
            rows = await session.execute(
                sa.select(RunEventRow)
                .where(RunEventRow.run_id == run_id, RunEventRow.seq > after_seq)
                .order_by(RunEventRow.seq)
                .limit(limit)
            )
            return [to_event(row) for row in rows.scalars()]

    async def last_event(self, run_id: str) -> RunEvent | None:
        async with self.sessions() as session:
            row = (
                await session.execute(
                    sa.select(RunEventRow)
                    .where(RunEventRow.run_id == run_id)
                    .order_by(RunEventRow.seq.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
        return to_event(row) if row else None

    # -- cancelling and pausing ------------------------------------------------------

    async def request_cancel(self, tenant_id: str, run_id: str) -> tuple[Run, RunEvent | None]:
        """Cancel a pending or paused run at once (no worker holds it), or flag a running one
        for its next checkpoint."""
        for _ in range(3):  # a resume or a claim may move it between the read and the write
            run = await self.get_run(tenant_id, run_id)
            if RunStatus(run.status).is_terminal:
                raise Conflict(f"The run has already ended ({run.status}).", code="run_finished")
            if run.status == RunStatus.RUNNING:
                async with self.sessions.begin() as session:
                    flagged = await session.execute(
                        sa.update(Run)
                        .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value)
                        .values(cancel_requested=True)
                    )
                if flagged.rowcount == 1:  # type: ignore[attr-defined]
                    return await self.get_run(tenant_id, run_id), None
                continue
            paused = run.status == RunStatus.PAUSED
            ending = CANCELLED_WHILE_PAUSED if paused else NEVER_STARTED
            event = await self._end(run_id, ending, RunStatus(run.status))
            if event is not None:
                return await self.get_run(tenant_id, run_id), event
        raise Conflict("The run changed meanwhile; try again.", code="conflict")

    async def request_pause(self, tenant_id: str, run_id: str) -> tuple[Run, RunEvent | None]:
        """Pause a pending run at once, or flag a running one for its next safe point (the
        end of its current chunk); a paused run stays as it is. Whether its kind can pause
        at all is the caller's question (the registry knows)."""
        run = await self.get_run(tenant_id, run_id)
        if RunStatus(run.status).is_terminal:
            raise Conflict(f"The run has already ended ({run.status}).", code="run_finished")
        if run.status == RunStatus.PENDING:
            async with self.sessions.begin() as session:
                pending = (
                    await session.execute(
                        sa.select(Run)
                        .where(Run.id == run_id, Run.status == RunStatus.PENDING.value)
                        .with_for_update()
                    )
                ).scalar_one_or_none()
                if pending is not None:
                    event = await self.set_paused(session, pending, PAUSED_BEFORE_START)
                    return pending, event
        async with self.sessions.begin() as session:
            await session.execute(
                sa.update(Run)
                .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value)
                .values(pause_requested=True)
            )
        return await self.get_run(tenant_id, run_id), None

    async def paused(
        self, run_id: str, *, lease: str, message: str, steps: Sequence[dict[str, Any]]
    ) -> RunEvent | None:
        """running -> paused, by the attempt holding `lease`, after a chunk committed: the
        lease and heartbeat are cleared (nothing to sweep), the lock key is kept. A cancel
        that came meanwhile wins: the run ends `cancelled` instead (its answer was 202)."""
        conditions = [
            Run.id == run_id, Run.status == RunStatus.RUNNING.value, Run.lease_token == lease
        ]  # fmt: skip
        async with self.sessions.begin() as session:
            query = sa.select(Run).where(*conditions).with_for_update()
            run = (await session.execute(query)).scalar_one_or_none()
            if run is None:
                return None
            if run.cancel_requested:
                ending = Ending(RunStatus.CANCELLED, CANCELLED_WHILE_PAUSED.message,
                                "cancelled", steps=steps)  # fmt: skip
                return await self._end_in(session, conditions, ending, skip_locked=False)
            for step in steps:
                await self._upsert_step(session, run_id, step)
            return await self.set_paused(session, run, message)

    async def set_paused(self, session: AsyncSession, run: Run, message: str) -> RunEvent:
        """Write `run` (held in `session`) as paused, with the progress event that says so."""
        run.status, run.message = RunStatus.PAUSED.value, message
        run.pause_requested = run.cancel_requested = False
        run.lease_token = run.worker_id = run.heartbeat_at = None
        run.rate = run.eta_s = None
        return await self._snapshot_event(session, run)

    async def resume(self, tenant_id: str, run_id: str) -> tuple[Run, RunEvent]:
        """Queue a failed, cancelled or paused run again; its seq and attempt carry on."""
        run = await self.get_run(tenant_id, run_id)
        if not can_transition(RunStatus(run.status), RunStatus.PENDING):
            raise Conflict(
                f"Only a failed, cancelled or paused run can be resumed; this one is {run.status}.",
                code="not_resumable",
            )
        try:
            async with self.sessions.begin() as session:
                fresh = (
                    await session.execute(
                        sa.select(Run)
                        .where(Run.id == run_id, Run.status == run.status)
                        .with_for_update()
                    )
                ).scalar_one_or_none()
                if fresh is None:
                    raise Conflict("The run changed meanwhile; try again.", code="conflict")
                message = CONTINUED if fresh.status == RunStatus.PAUSED else RESUMED
                event = await self.requeue(session, fresh, message=message)
        except IntegrityError:
            active = await self.active_run(tenant_id, run.kind)
            raise Conflict(
                "Another run for the same work is active; resume it after that one ends.",
                code="run_active",
                run_id=active.id if active else None,
            ) from None
        return await self.get_run(tenant_id, run_id), event

    async def requeue(
        self, session: AsyncSession, run: Run, status: RunStatus = RunStatus.PENDING,
        message: str = RESUMED,
    ) -> RunEvent:  # fmt: skip
        """Queue an ended run again in `session`'s transaction; its seq and attempt carry on
        (an active run on the same lock key raises `IntegrityError` at the flush)."""
        reopen(run, status, message)
        return await self._snapshot_event(session, run)

    async def _snapshot_event(self, session: AsyncSession, run: Run) -> RunEvent:
        """The run's row as it now stands (changed in `session`), written as its next
        progress event."""
        now = utc_now()
        run.seq += 1
        event = RunEvent(run.id, run.seq, None, _snapshot_data(run, now))
        await session.flush()
        await self.insert_events(session, [event], now)
        return event

    # -- the runner's side ----------------------------------------------------

    async def claim_pending(self, worker_id: str, limit: int) -> list[Run]:
        """Take up to `limit` pending runs, oldest first, each with a fresh lease.

        PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, so workers racing on
        several hosts never take the same run and never wait on each other.
        SQLite (one process): a conditional UPDATE per run decides the same.
        """
        pending = sa.select(Run.id).where(Run.status == RunStatus.PENDING.value)
        pending = pending.order_by(Run.id).limit(limit)
        if not self.on_postgresql:
            async with self.sessions() as session:
                ids = list((await session.execute(pending)).scalars())
            claimed = [await self.claim(i, worker_id, secrets.token_hex(16)) for i in ids]
            return [run for run in claimed if run is not None]
        async with self.sessions.begin() as session:
            ids = list((await session.execute(pending.with_for_update(skip_locked=True))).scalars())
            for run_id in ids:
                await session.execute(self._claim_update(run_id, worker_id, secrets.token_hex(16)))
            if not ids:
                return []
            rows = await session.execute(sa.select(Run).where(Run.id.in_(ids)).order_by(Run.id))
            return list(rows.scalars())

    def _claim_update(self, run_id: str, worker_id: str, lease: str) -> Any:
        return (
            sa.update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.PENDING.value)
            .values(
                status=RunStatus.RUNNING.value,
                lease_token=lease,
                worker_id=worker_id,
                attempt=Run.attempt + 1,
                started_at=sa.func.coalesce(Run.started_at, utc_now()),
                heartbeat_at=self.clock(),
                message="Starting",
            )
        )

    async def claim(self, run_id: str, worker_id: str, lease: str) -> Run | None:
        """Take one pending run; the conditional UPDATE makes exactly one claimer win."""
        async with self.sessions.begin() as session:
            result = await session.execute(self._claim_update(run_id, worker_id, lease))
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
            return await session.get(Run, run_id)

    async def write_progress(
        self,
        run_id: str,
        lease: str,
        events: Sequence[RunEvent],
        run_values: dict[str, Any],
        steps: Sequence[dict[str, Any]],
    ) -> Requests:
        """Persist events, run columns and step rows in one short transaction.

        Returns whether a cancel or a pause was requested; raises `LeaseLost` when
        the run is no longer this attempt's (the UPDATE's lease check is the fence).
        """
        (outcome,) = await self.write_progress_many(
            [ProgressWrite(run_id, lease, tuple(events), run_values, tuple(steps))]
        )
        if isinstance(outcome, LeaseLost | RowBusy):
            raise outcome
        return outcome

    async def write_progress_many(
        self, writes: Sequence[ProgressWrite], *, skip_locked: bool = False
    ) -> list[Requests | LeaseLost | RowBusy]:
        """Several runs' progress writes in one transaction (group commit, jobs/groupcommit.py).

        Each write is fenced on its own by its UPDATE's lease check: a run that is
        no longer its attempt's gets `LeaseLost` in its place of the answer and
        writes nothing, while the others are written. With `skip_locked`, on
        PostgreSQL, a run whose row another transaction holds gets `RowBusy` and
        is not waited for (group commit then writes it alone, so one held row
        never stalls its neighbours). Any other failure rolls back the whole
        transaction and propagates.
        """
        now = utc_now()
        outcomes: list[Requests | LeaseLost | RowBusy] = []
        async with self.sessions.begin() as session:
            free = await self._lock_free_rows(session, writes) if skip_locked else None
            for write in writes:
                if free is not None and write.run_id not in free:
                    outcomes.append(RowBusy(write.run_id))
                else:
                    outcomes.append(await self._write_one(session, write, now))
        self.progress_commits += 1
        self.progress_writes += sum(isinstance(o, Requests) for o in outcomes)
        return outcomes

    async def _lock_free_rows(
        self, session: AsyncSession, writes: Sequence[ProgressWrite]
    ) -> set[str] | None:
        """PostgreSQL: lock the rows nobody else holds (in id order); None: all of them."""
        if not self.on_postgresql:
            return None  # SQLite has one writer: no other transaction holds a row
        ids = sorted({write.run_id for write in writes})
        locked = await session.scalars(
            sa.select(RUNS.c.id)
            .where(RUNS.c.id.in_(ids))
            .order_by(RUNS.c.id)
            .with_for_update(skip_locked=True)
        )
        return set(locked)

    async def _write_one(
        self, session: AsyncSession, write: ProgressWrite, now: datetime
    ) -> Requests | LeaseLost:
        run_id, events = write.run_id, write.events
        values = dict(write.run_values, heartbeat_at=self.clock())
        if events:
            values["seq"] = events[-1].seq
        runs = RUNS.c
        result = await session.execute(
            sa.update(RUNS)
            .where(
                runs.id == run_id,
                runs.lease_token == write.lease,
                runs.status == RunStatus.RUNNING.value,
            )
            .values(**values)
            .returning(runs.cancel_requested, runs.pause_requested, runs.parent_id)
        )
        row = result.one_or_none()
        if row is None:
            return LeaseLost(run_id)
        cancel, pause, parent_id = row
        if events:
            await self.insert_events(session, events, now)
        for step in write.steps:
            await self._upsert_step(session, run_id, step)
        if parent_id is not None and events:
            latest: Any = events[-1].data
            for hook in self.progress_hooks:
                await hook(session, parent_id, run_id, latest)
        return Requests(cancel=bool(cancel), pause=bool(pause))

    @staticmethod
    async def _upsert_step(session: AsyncSession, run_id: str, step: dict[str, Any]) -> None:
        values = dict(step, run_id=run_id)
        steps = STEPS.c
        updated = await session.execute(
            sa.update(STEPS)
            .where(steps.run_id == run_id, steps.index == step["index"])
            .values(**values)
        )
        if updated.rowcount == 0:  # type: ignore[attr-defined]
            await session.execute(sa.insert(STEPS).values(**values))

    # -- endings: one function per transition (`statuses.py` says which are allowed) ------

    async def complete(
        self,
        run_id: str,
        *,
        lease: str,
        result: dict[str, Any] | None,
        steps: Sequence[dict[str, Any]],
        session: AsyncSession | None = None,
    ) -> RunEvent | None:
        """running -> completed, by the attempt holding `lease`; None if it no longer does.

        With `session` the write joins that transaction (the business one on a
        shared PostgreSQL database, so COMMIT and `completed` are one act).
        """
        ending = Ending(RunStatus.COMPLETED, "Completed.", result=result, steps=steps)
        return await self._end(run_id, ending, RunStatus.RUNNING, lease=lease, session=session)

    async def fail(
        self, run_id: str, *, lease: str, failure: Failure, steps: Sequence[dict[str, Any]]
    ) -> RunEvent | None:
        """running -> failed, by the attempt holding `lease` (its work was rolled back)."""
        ending = Ending(RunStatus.FAILED, failure.message, failure.code, failure.error, steps=steps)
        return await self._end(run_id, ending, RunStatus.RUNNING, lease=lease)

    async def cancelled(
        self, run_id: str, *, lease: str, message: str, steps: Sequence[dict[str, Any]]
    ) -> RunEvent | None:
        """running -> cancelled, by the attempt holding `lease`, at a checkpoint."""
        ending = Ending(RunStatus.CANCELLED, message, "cancelled", steps=steps)
        return await self._end(run_id, ending, RunStatus.RUNNING, lease=lease)

    async def cancel_pending(self, run_id: str) -> RunEvent | None:
        """pending -> cancelled: nobody claimed it yet."""
        return await self._end(run_id, NEVER_STARTED, RunStatus.PENDING)

    async def fail_abandoned(
        self, run_id: str, failure: Failure, *, stale_before: Any = None
    ) -> RunEvent | None:
        """running -> failed for a run whose worker is gone (the sweepers); with
        `stale_before`, only if its heartbeat is older than that (the database's clock)."""
        ending = Ending(RunStatus.FAILED, failure.message, failure.code, failure.error)
        return await self._end(run_id, ending, RunStatus.RUNNING, stale_before=stale_before)

    async def reset(self, run_id: str, was: RunStatus, failure: Failure) -> RunEvent | None:
        """pending or running -> failed, by an admin; clearing the lease fences its worker."""
        ending = Ending(RunStatus.FAILED, failure.message, failure.code, failure.error)
        return await self._end(run_id, ending, was)

    async def end_in(
        self, session: AsyncSession, run_id: str, ending: Ending, was: RunStatus = RunStatus.RUNNING
    ) -> RunEvent | None:
        """`was` -> `ending`, in `session`'s transaction, whoever runs it: a batch's own row
        ends here, in the transaction that records its last child's end, and a cancelled
        batch's queued children in the transaction that cancels it."""
        if not can_transition(was, ending.status):
            raise ValueError(f"a run may not go from {was} to {ending.status}")
        conditions = [Run.id == run_id, Run.status == was.value]
        return await self._end_in(session, conditions, ending, skip_locked=False)

    async def _end(
        self,
        run_id: str,
        ending: Ending,
        was: RunStatus,
        *,
        lease: str | None = None,
        stale_before: Any = None,
        session: AsyncSession | None = None,
    ) -> RunEvent | None:
        """Record the terminal state and its event atomically, then the finish hooks, in
        one transaction; None if the run is not (or no longer) `was`, or not ours.

        An ending without a lease (the sweepers, an admin reset) skips a run
        whose row another transaction holds: a frozen writer must not stall
        it, and the next sweep tries again.
        """
        if not can_transition(was, ending.status):
            raise ValueError(f"a run may not go from {was} to {ending.status}")
        conditions = [Run.id == run_id, Run.status == was.value]
        if lease is not None:
            conditions.append(Run.lease_token == lease)
        if stale_before is not None:
            conditions.append(Run.heartbeat_at < stale_before)
        if session is not None:
            return await self._end_in(session, conditions, ending, skip_locked=lease is None)
        async with self.sessions.begin() as own:
            return await self._end_in(own, conditions, ending, skip_locked=lease is None)

    async def _end_in(
        self, session: AsyncSession, conditions: list[Any], ending: Ending, *, skip_locked: bool
    ) -> RunEvent | None:
        now = utc_now()
        query = sa.select(Run).where(*conditions).with_for_update(skip_locked=skip_locked)
        run = (await session.execute(query)).scalar_one_or_none()
        if run is None:
            return None
        status, result = ending.status, ending.result
        seq = run.seq + 1
        percentage = 100.0 if status is RunStatus.COMPLETED else run.percentage
        data = terminal_payload(
            run_id=run.id,
            seq=seq,
            status=status,
            percentage=percentage,
            message=ending.message,
            processed=int((result or {}).get("records_processed", run.processed)),
            error_code=ending.code,
            result=result,
            ts=now,
        )
        data.update(ending.extra)  # type: ignore[typeddict-item]
        event = RunEvent(run.id, seq, TERMINAL_EVENT_FOR[status], data)
        run.status, run.seq, run.percentage, run.message = (
            status.value,
            seq,
            percentage,
            ending.message,
        )
        run.finished_at = now
        run.error = ending.error if status is not RunStatus.COMPLETED else None
        run.error_code, run.result = ending.code, result
        run.active_lock = run.lease_token = None
        run.rate = run.eta_s = None
        run.pause_requested = False  # asked too late: it ended first
        await self.insert_events(session, [event], now)
        for step in ending.steps:
            await self._upsert_step(session, run.id, step)
        for hook in self.finish_hooks:  # the same transaction: a webhook is never lost
            await hook(session, run)
        return event

    async def holds_lease(self, run_id: str, lease: str) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                sa.select(Run.id).where(
                    Run.id == run_id,
                    Run.lease_token == lease,
                    Run.status == RunStatus.RUNNING.value,
                )
            )
        return found is not None

    async def insert_events(
        self, session: AsyncSession, events: Sequence[RunEvent], now: datetime
    ) -> None:
        """Persist events; on PostgreSQL also NOTIFY, delivered only if this transaction commits.

        The payload (`runs/notify.py`) carries the events when they fit in
        PostgreSQL's 8,000 bytes, else only `run_id:seq:origin`: listeners then
        read the events from this table. One NOTIFY per call, so a transaction
        holding several runs' events sends one per run, each in seq order.
        """
        await session.execute(sa.insert(EVENTS), [_event_row(e, now) for e in events])
        self.events_written += len(events)  # for metrics (counted once the INSERT ran)
        if self.on_postgresql:
            payload = encode_notice(events, self.origin)
            await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, payload)))

    # -- liveness -------------------------------------------------------------------

    @property
    def on_postgresql(self) -> bool:
        return db.on_postgresql(self.sessions)

    def clock(self) -> Any:
        """The database's clock on PostgreSQL (hosts' clocks drift); ours on SQLite (one host)."""
        return sa.func.now() if self.on_postgresql else utc_now()

    def stale_cutoff(self, stale_after_s: float) -> Any:
        """Heartbeats older than this are stale, by the same clock that wrote them."""
        if self.on_postgresql:
            return sa.func.now() - sa.literal(timedelta(seconds=stale_after_s), sa.Interval())
        return utc_now() - timedelta(seconds=stale_after_s)

    async def orphaned_run_ids(self, limit: int = 100) -> list[str]:
        """Running runs whose worker is gone: PostgreSQL holds no lock of it any more.

        Every worker holds an advisory lock keyed by its identity for its
        life (`jobs/ownership.py`); the lock lives as long as its session, so a
        dead process's runs show here within seconds. SQLite: see
        `running_run_ids` (its one job-running process checks at start-up).
        """
        if not self.on_postgresql:
            return []
        query = sa.text(
            "SELECT r.id FROM runs AS r WHERE r.status = 'running' AND r.worker_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM pg_locks AS l WHERE l.locktype = 'advisory' "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid = :ns AND l.objsubid = 2 AND l.granted "
            "AND l.objid::bigint = (hashtext(r.worker_id)::bigint & 4294967295)) "
            "ORDER BY r.id LIMIT :limit"
        )
        async with self.sessions() as session:
            rows = await session.execute(query, {"ns": WORKER_LOCK, "limit": limit})
            return [row[0] for row in rows]

    async def running_run_ids(self, limit: int = 1000) -> list[str]:
        """Running runs, a batch's own row left out (it has no worker to lose)."""
        async with self.sessions() as session:
            query = sa.select(Run.id).where(
                Run.status == RunStatus.RUNNING.value, Run.kind != BATCH_KIND
            )
            return list((await session.execute(query.limit(limit))).scalars())

    async def stale_run_ids(
        self, cutoff: Any, run_id: str | None = None, limit: int = 100
    ) -> list[str]:
        query = sa.select(Run.id).where(
            Run.status == RunStatus.RUNNING.value, Run.heartbeat_at < cutoff
        )
        if run_id is not None:
            query = query.where(Run.id == run_id)
        async with self.sessions() as session:
            return list((await session.execute(query.limit(limit))).scalars())


def reopen(run: Run, status: RunStatus, message: str) -> None:
    """An ended (or paused) run's row made active again (`requeue`; a batch's resume writes
    its own event)."""
    run.status = status.value
    run.message = message
    run.cancel_requested = run.pause_requested = False
    run.error = run.error_code = None
    run.result = None
    run.finished_at = None
    run.active_lock = run.lock_key


def _snapshot_data(run: Run, now: datetime) -> ProgressEventJson:
    return progress_payload(
        run_id=run.id,
        seq=run.seq,
        status=RunStatus(run.status),
        percentage=run.percentage,
        message=run.message,
        step=None,
        processed=run.processed,
        skipped=run.skipped,
        total=run.total,
        rate=None,
        eta_s=None,
        ts=now,
    )
