"""The NOTIFY payload: events carried when they fit, a plain hint otherwise (runs/notify.py)."""

from __future__ import annotations

import pytest

from progress_sse.runs.events import RunEvent
from progress_sse.runs.notify import (
    MAX_PAYLOAD_BYTES,
    Notice,
    decode_notice,
    encode_notice,
    merge_notices,
)
from progress_sse.runs.statuses import EventName

HOSTILE = {
    "message": 'a "quoted" line:\nnext\r\n\tend: 1:2:3 \\ \u2028 \x00',
    "unicode": "żółć 日本 😀 \ud7ff",
    "nested": {"list": [1, 2.5, None, True, "x:y"], "": ""},
    "big": 2**53 + 1,
    "percentage": 100.0,
}


def tick(seq: int, run_id: str = "r1", **data: object) -> RunEvent:
    return RunEvent(run_id, seq, None, {"seq": seq, **data})


def test_events_that_fit_are_carried_and_come_back_byte_for_byte() -> None:
    events = [tick(5, message="a"), tick(6, **HOSTILE), RunEvent("r1", 7, EventName.ERROR, HOSTILE)]
    payload = encode_notice(events, "ab12")
    notice = decode_notice(payload)
    assert notice is not None
    assert (notice.run_id, notice.seq, notice.origin) == ("r1", 7, "ab12")
    assert [e.seq for e in notice.events] == [5, 6, 7]
    assert [e.event for e in notice.events] == [None, None, EventName.ERROR]
    # The frames a watcher is sent are those of the writer's own process.
    assert [e.frame for e in notice.events] == [e.frame for e in events]
    assert payload.isascii()  # so its length is its size in bytes


def test_a_nul_is_carried_as_the_table_stores_it() -> None:
    (event,) = decode_notice(encode_notice([tick(1, message="a\x00b")], "o")).events  # type: ignore[union-attr]
    assert event.data["message"] == "a\ufffdb"


def test_events_that_do_not_fit_leave_a_hint() -> None:
    events = [tick(seq, message="x" * 1000) for seq in range(1, 10)]
    payload = encode_notice(events, "ab12")
    assert payload == "r1:9:ab12"
    assert decode_notice(payload) == Notice("r1", 9, "ab12")


def test_the_limit_is_postgresqls() -> None:
    """PostgreSQL refuses 8,000 bytes or more: a payload is at most 7,999."""
    base = len(encode_notice([tick(1, message="")], "ab12"))
    exactly = encode_notice([tick(1, message="x" * (MAX_PAYLOAD_BYTES - base))], "ab12")
    over = encode_notice([tick(1, message="x" * (MAX_PAYLOAD_BYTES - base + 1))], "ab12")
    assert len(exactly) == MAX_PAYLOAD_BYTES and decode_notice(exactly).events  # type: ignore[union-attr]
    assert over == "r1:1:ab12"


@pytest.mark.parametrize(
    ("payload", "notice"),
    [
        ("r1:7:abcd", Notice("r1", 7, "abcd")),
        ("r1:7", Notice("r1", 7, "")),  # a process from before the origin was added
        ("r1:7:abcd:", Notice("r1", 7, "abcd")),
        ("r1:x:abcd", None),
        ("r1:٣:abcd", None),  # a non-ASCII digit
        (":7:abcd", None),
        ("r1", None),
    ],
)
def test_hints(payload: str, notice: Notice | None) -> None:
    assert decode_notice(payload) == notice


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        "[]",
        "[[7]]",
        '[[7, "no-such-event", {}]]',
        "[[7, null, []]]",  # data is an object
        '[[7.0, null, {"seq": 7}]]',
        '[[true, null, {"seq": 7}]]',
        '[[6, null, {"seq": 6}]]',  # does not end at the notice's seq
        "[[5, null, {}], [7, null, {}]]",  # a gap
        "[[7, null, {}], [6, null, {}]]",  # out of order
        "[[7, null, {}]",  # cut short
    ],
)
def test_malformed_carried_events_make_it_a_hint(body: str) -> None:
    """Never trusted: the listener reads the table instead."""
    assert decode_notice(f"r1:7:abcd:{body}") == Notice("r1", 7, "abcd")


def test_colons_in_the_data_do_not_move_the_header() -> None:
    notice = decode_notice(encode_notice([tick(3, message="r2:9:zz:[[1]]")], "ab12"))
    assert notice is not None
    assert (notice.run_id, notice.seq, notice.origin) == ("r1", 3, "ab12")
    assert notice.events[0].data["message"] == "r2:9:zz:[[1]]"


def test_notices_gathered_in_one_turn_merge_while_they_follow_on() -> None:
    one = decode_notice(encode_notice([tick(2), tick(3)], "o"))
    two = decode_notice(encode_notice([tick(4)], "o"))
    hint = Notice("r1", 6, "o")
    late = decode_notice(encode_notice([tick(7)], "o"))
    assert one and two and late
    events, seq = merge_notices([one, two, hint, late])
    assert [e.seq for e in events] == [2, 3, 4] and seq == 7  # the rest is read from the table
    events, seq = merge_notices([one, late])  # a missed NOTIFY between them
    assert [e.seq for e in events] == [2, 3] and seq == 7
    assert merge_notices([hint, late]) == ([], 7)
