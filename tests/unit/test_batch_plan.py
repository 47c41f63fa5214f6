"""A batch's rules over every outcome its children can have: counts that always add up, a
percentage that reads 100 only when every child succeeded, no child started before what it
waits for, every batch ending, and a resume that never runs a succeeded child again."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from progress_sse.batches.plan import (
    ALMOST,
    BatchSpec,
    ChildSpec,
    ChildState,
    counts,
    outcome,
    percentage,
    ready,
    resumed,
    spec_problems,
    to_skip,
)

S = ChildState
ENDINGS = [S.SUCCEEDED, S.FAILED, S.CANCELLED]


def close(*names: str, parallel: bool = False) -> BatchSpec:
    return BatchSpec("close", tuple(ChildSpec(n, "demo", {}) for n in names), parallel=parallel)


def test_children_run_in_sequence_unless_the_batch_is_parallel_or_says_after() -> None:
    assert close("import", "depreciate", "lock").dependencies == ((), (0,), (1,))
    assert close("book a", "book b", parallel=True).dependencies == ((), ())
    fan = BatchSpec("books", (ChildSpec("a", "demo", {}), ChildSpec("b", "demo", {}, after=()),
                              ChildSpec("lock", "demo", {}, after=(0, 1))))  # fmt: skip
    assert fan.dependencies == ((), (), (0, 1))
    assert ready(fan.dependencies, [S.PENDING] * 3) == [0, 1]


def test_999_of_1000_is_not_100_percent() -> None:
    weights = [1.0] * 1000
    states = [S.SUCCEEDED] * 999 + [S.RUNNING]
    assert percentage(weights, states, [0.0] * 999 + [99.99]) == ALMOST
    assert percentage(weights, [S.SUCCEEDED] * 1000, [0.0] * 1000) == 100.0
    failed_last = [S.SUCCEEDED] * 999 + [S.FAILED]
    assert percentage(weights, failed_last, [0.0] * 1000) == ALMOST


def test_weights_share_the_bar() -> None:
    weights = [1.0, 8.0, 1.0]  # the depreciation is most of a close
    assert percentage(weights, [S.SUCCEEDED, S.RUNNING, S.PENDING], [0, 50, 0]) == 50.0


def test_a_child_that_stops_keeps_its_share_where_it_stopped() -> None:
    weights = [1.0, 1.0, 2.0]
    assert percentage(weights, [S.SUCCEEDED, S.FAILED, S.SKIPPED], [100, 40, 0]) == 35.0
    assert percentage(weights, [S.SUCCEEDED, S.CANCELLED, S.SKIPPED], [100, 40, 0]) == 35.0
    assert percentage(weights, [S.SUCCEEDED, S.RUNNING, S.PENDING], [100, 40, 0]) == 35.0


def test_a_failed_middle_child_skips_what_waits_for_it_and_fails_the_batch() -> None:
    spec = close("import", "depreciate", "lock")
    states = [S.SUCCEEDED, S.FAILED, S.PENDING]
    skip = to_skip(spec.dependencies, states, [c.name for c in spec.children])
    assert skip == {2: "skipped: it waits for child 1 (depreciate), which failed"}
    states[2] = S.SKIPPED
    assert outcome(spec.dependencies, states) == "failed"
    assert counts(states) == {"succeeded": 1, "failed": 1, "cancelled": 0, "skipped": 1,
                              "running": 0, "pending": 0}  # fmt: skip
    assert resumed(states) == [S.SUCCEEDED, S.PENDING, S.PENDING], "the import is not redone"


def test_a_cancel_ends_the_batch_cancelled() -> None:
    spec = close("import", "depreciate", "lock")
    states = [S.SUCCEEDED, S.CANCELLED, S.SKIPPED]
    assert outcome(spec.dependencies, states) == "cancelled"


A = ChildSpec("a", "demo", {})
WEIGHT = "child 0 (a): weight must be above 0 and at most 1,000,000"


@pytest.mark.parametrize(
    ("children", "said"),
    [
        ((), "a batch has 1 to 100 children, not 0"),
        ((A, A), "child 1 (a): the name is used twice"),
        ((ChildSpec("a", "demo", {}, after=(0,)),), "child 0 (a): `after` may name only earlier"),
        ((ChildSpec("a", "demo", {}, weight=0),), WEIGHT),
        ((ChildSpec("a", "demo", {}, weight=float("nan")),), WEIGHT),
    ],
)
def test_a_spec_that_cannot_run_is_refused_with_reasons(
    children: tuple[ChildSpec, ...], said: str
) -> None:
    assert any(p.startswith(said) for p in spec_problems("close", children))
    with pytest.raises(ValueError, match=re.escape(said)):
        BatchSpec("close", children)


@st.composite
def batches(draw: st.DrawFn) -> tuple[BatchSpec, list[ChildState]]:
    """A batch of 1-12 children with random dependencies on earlier ones, and the ending
    each child would have if it ran."""
    n = draw(st.integers(1, 12))
    children = []
    for i in range(n):
        after = (
            draw(st.none() | st.lists(st.integers(0, i - 1), unique=True, max_size=3))
            if i
            else None
        )
        weight = draw(st.floats(0.1, 50))
        children.append(
            ChildSpec(
                f"c{i}", "demo", {}, weight=weight, after=None if after is None else tuple(after)
            )
        )
    spec = BatchSpec("random", tuple(children), parallel=draw(st.booleans()))
    return spec, draw(st.lists(st.sampled_from(ENDINGS), min_size=n, max_size=n))


def drive(
    spec: BatchSpec, endings: list[ChildState], states: list[ChildState], order: st.DataObject
) -> list[ChildState]:
    """Run the batch as the store does: start what is ready, end one running child at a
    time (in any order), skip what can no longer start, until it ends. Check every step."""
    deps, names, weights = spec.dependencies, [c.name for c in spec.children], spec.weights
    started: list[int] = []
    for _ in range(10 * len(states) + 10):  # bounded: every pass ends or skips a child
        for i in ready(deps, states):
            assert all(states[d] is S.SUCCEEDED for d in deps[i]), "never before its dependencies"
            states[i] = S.RUNNING
            started.append(i)
        for i, reason in to_skip(deps, states, names).items():
            assert reason.startswith("skipped: it waits for child ")
            states[i] = S.SKIPPED
        tally = counts(states)
        assert sum(tally.values()) == len(states), "every child counted exactly once"
        shown = percentage(weights, states, [50.0] * len(states))
        assert (shown == 100.0) == all(s is S.SUCCEEDED for s in states)
        ended = outcome(deps, states)
        if ended is not None:
            assert tally["running"] == tally["pending"] == 0
            assert (ended == "completed") == (tally["succeeded"] == len(states))
            return states
        running = [i for i, s in enumerate(states) if s is S.RUNNING]
        assert running, "a batch that has not ended has a child running"
        i = order.draw(st.sampled_from(running))
        states[i] = endings[i]
    raise AssertionError("the batch never ended")


@settings(max_examples=300, deadline=None)
@given(batch=batches(), order=st.data())
def test_every_batch_ends_with_exact_counts(
    batch: tuple[BatchSpec, list[ChildState]], order: st.DataObject
) -> None:
    spec, endings = batch
    drive(spec, endings, [S.PENDING] * len(spec.children), order)


@settings(max_examples=200, deadline=None)
@given(batch=batches(), order=st.data())
def test_a_resume_never_runs_a_succeeded_child_again_and_can_finish(
    batch: tuple[BatchSpec, list[ChildState]], order: st.DataObject
) -> None:
    spec, endings = batch
    first = drive(spec, endings, [S.PENDING] * len(spec.children), order)
    again = resumed(first)
    succeeded = {i for i, s in enumerate(first) if s is S.SUCCEEDED}
    assert {i for i, s in enumerate(again) if s is S.SUCCEEDED} == succeeded
    everyone_succeeds = [S.SUCCEEDED] * len(endings)  # the second attempt goes well
    final = drive(spec, everyone_succeeds, again, order)
    assert final == [S.SUCCEEDED] * len(endings)
