"""Run ids: 26 Crockford base32 characters, time-ordered as plain strings."""

from __future__ import annotations

import time

from progress_sse.runs.ids import new_run_id

ALPHABET = set("0123456789abcdefghjkmnpqrstvwxyz")


def test_ids_are_26_lower_case_crockford_characters() -> None:
    for _ in range(200):
        run_id = new_run_id()
        assert len(run_id) == 26
        assert set(run_id) <= ALPHABET


def test_ids_never_contain_ambiguous_letters() -> None:
    ids = "".join(new_run_id() for _ in range(500))
    assert not set(ids) & set("ilouILOU")


def test_later_ids_sort_after_earlier_ones() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_run_id())
        time.sleep(0.002)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_are_unique() -> None:
    ids = [new_run_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
