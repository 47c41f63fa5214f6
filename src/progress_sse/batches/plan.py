"""A batch's rules, as pure functions of its spec and its children's states: which child
may start, which must be skipped and why, the exact counts, the weighted percentage, how
the batch ends, and what a resume runs again.

A batch is an ordered set of child runs. Each child waits for the children it names in
`after`; left out, it waits for the child before it (a sequence), unless the batch is
`parallel`. Every function here takes the states as they are and returns what follows, so
the store applies them inside the transaction that records a child's end, and the tests
can check them over every outcome (tests/unit/test_batch_plan.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypedDict

MAX_CHILDREN = 100
ALMOST = 99.9  # the most a batch shows until every child has succeeded


class ChildState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"


DONE = frozenset(
    {ChildState.SUCCEEDED, ChildState.FAILED, ChildState.CANCELLED, ChildState.SKIPPED}
)
UNSUCCESSFUL = frozenset({ChildState.FAILED, ChildState.CANCELLED, ChildState.SKIPPED})


class Counts(TypedDict):
    """How many children are in each state; they always add up to the batch's size."""

    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    running: int
    pending: int


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """One child: a run of `kind` with `params`. `weight` is its share of the bar; `after`
    names the earlier children (by index) it waits for."""

    name: str
    kind: str
    params: Mapping[str, Any]
    weight: float = 1.0
    after: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class BatchSpec:
    name: str
    children: tuple[ChildSpec, ...]
    parallel: bool = False  # children without `after` do not wait for the one before

    def __post_init__(self) -> None:
        problems = spec_problems(self.name, self.children)
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def dependencies(self) -> tuple[tuple[int, ...], ...]:
        """What each child waits for, the defaults resolved."""
        return tuple(
            child.after
            if child.after is not None
            else (() if self.parallel or i == 0 else (i - 1,))
            for i, child in enumerate(self.children)
        )

    @property
    def weights(self) -> tuple[float, ...]:
        return tuple(child.weight for child in self.children)


def spec_problems(name: str, children: Sequence[ChildSpec]) -> list[str]:
    """Why a batch cannot run, in words (empty when it can): a person reads these in a 422."""
    problems: list[str] = []
    if not name.strip():
        problems.append("a batch needs a name")
    if not 1 <= len(children) <= MAX_CHILDREN:
        problems.append(f"a batch has 1 to {MAX_CHILDREN} children, not {len(children)}")
    names = [child.name for child in children]
    for i, child in enumerate(children):
        where = f"child {i} ({child.name})"
        if not child.name.strip():
            problems.append(f"child {i} needs a name")
        elif names.index(child.name) != i:
            problems.append(f"{where}: the name is used twice")
        if not (math.isfinite(child.weight) and 0 < child.weight <= 1_000_000):
            problems.append(f"{where}: weight must be above 0 and at most 1,000,000")
        for earlier in child.after or ():
            if not 0 <= earlier < i:
                problems.append(f"{where}: `after` may name only earlier children, not {earlier}")
        if child.after is not None and len(set(child.after)) != len(child.after):
            problems.append(f"{where}: `after` names a child twice")
    return problems


def counts(states: Sequence[ChildState]) -> Counts:
    def n(state: ChildState) -> int:
        return sum(1 for s in states if s is state)

    return Counts(
        succeeded=n(ChildState.SUCCEEDED), failed=n(ChildState.FAILED),
        cancelled=n(ChildState.CANCELLED), skipped=n(ChildState.SKIPPED),
        running=n(ChildState.RUNNING), pending=n(ChildState.PENDING),
    )  # fmt: skip


def ready(deps: Sequence[Sequence[int]], states: Sequence[ChildState]) -> list[int]:
    """The pending children whose every dependency has succeeded: start them now."""
    return [
        i
        for i, state in enumerate(states)
        if state is ChildState.PENDING and all(states[d] is ChildState.SUCCEEDED for d in deps[i])
    ]


def to_skip(
    deps: Sequence[Sequence[int]], states: Sequence[ChildState], names: Sequence[str]
) -> dict[int, str]:
    """The pending children that can never start, each with the reason a person reads.

    Skipping one can doom those after it, so this follows the chain to its end.
    """
    states = list(states)
    skipped: dict[int, str] = {}
    for i, state in enumerate(states):  # dependencies are earlier: one pass in order
        if state is not ChildState.PENDING:
            continue
        blocked = next((d for d in deps[i] if states[d] in UNSUCCESSFUL), None)
        if blocked is not None:
            how = {ChildState.FAILED: "failed", ChildState.CANCELLED: "was cancelled",
                   ChildState.SKIPPED: "was skipped"}[states[blocked]]  # fmt: skip
            skipped[i] = f"skipped: it waits for child {blocked} ({names[blocked]}), which {how}"
            states[i] = ChildState.SKIPPED
    return skipped


def percentage(
    weights: Sequence[float], states: Sequence[ChildState], progress: Sequence[float]
) -> float:
    """The weighted share of the work done: a succeeded child counts whole; a running one
    by its own percentage, and one that failed or was cancelled by where it stopped (as a
    run's bar stays where it failed, so a batch's never moves backwards as a child ends);
    a child waiting or skipped not at all. It is 100 only when every child succeeded;
    short of that it stops at 99.9, so 999 of 1,000 never reads as done."""
    if all(state is ChildState.SUCCEEDED for state in states):
        return 100.0
    total = sum(weights)
    done = sum(
        w * (1.0 if s is ChildState.SUCCEEDED else min(max(p, 0.0), 100.0) / 100.0
             if s in STOPPED_AT else 0.0)
        for w, s, p in zip(weights, states, progress, strict=True)
    )  # fmt: skip
    return min(round(100.0 * done / total, 1), ALMOST)


# The children whose own percentage counts toward the batch's bar.
STOPPED_AT = frozenset({ChildState.RUNNING, ChildState.FAILED, ChildState.CANCELLED})


def outcome(
    deps: Sequence[Sequence[int]], states: Sequence[ChildState]
) -> Literal["completed", "failed", "cancelled"] | None:
    """How the batch ends, once nothing runs and nothing more can start; else None."""
    if any(s is ChildState.RUNNING for s in states) or ready(deps, states):
        return None
    if any(s is ChildState.PENDING for s in states):
        return None  # still to be skipped: apply `to_skip` first
    if all(s is ChildState.SUCCEEDED for s in states):
        return "completed"
    return "cancelled" if any(s is ChildState.CANCELLED for s in states) else "failed"


def resumed(states: Sequence[ChildState]) -> list[ChildState]:
    """What a resume runs again: everything that did not succeed. A succeeded child is
    never run twice; a failed or cancelled child resumes its own run (from its last
    committed chunk, for a resumable kind)."""
    return [s if s is ChildState.SUCCEEDED else ChildState.PENDING for s in states]


CANCELLED_REASON = "skipped: the batch was cancelled"
Outcome = Literal["completed", "failed", "cancelled"]


def advance(
    deps: Sequence[Sequence[int]],
    states: Sequence[ChildState],
    names: Sequence[str],
    *,
    cancelling: bool = False,
) -> tuple[dict[int, str], list[int]]:
    """What follows the states as they are: the children to skip (with the reason) and
    the children to start. A batch being cancelled skips everything still waiting and
    starts nothing."""
    if cancelling:
        return {i: CANCELLED_REASON for i, s in enumerate(states) if s is ChildState.PENDING}, []
    skips = to_skip(deps, states, names)
    after = [ChildState.SKIPPED if i in skips else s for i, s in enumerate(states)]
    return skips, ready(deps, after)


def ending(
    deps: Sequence[Sequence[int]], states: Sequence[ChildState], *, cancelling: bool = False
) -> Outcome | None:
    """How the batch ends, once `advance` has been applied; None while it goes on. A
    cancelled batch ends `cancelled` unless every child had already succeeded."""
    if not cancelling:
        return outcome(deps, states)
    if any(s in (ChildState.RUNNING, ChildState.PENDING) for s in states):
        return None
    return "completed" if all(s is ChildState.SUCCEEDED for s in states) else "cancelled"
