"""The SSE wire format: framing, hostile text, timestamps and constants."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from progress_sse.runs.events import END, PING, RunEvent, encode, iso, retry_line, wire
from progress_sse.runs.statuses import EventName
from progress_sse.storage.text import scrub

HOSTILE = [
    "line\rbreak",
    "line\nbreak",
    "line\r\nbreak",
    "nul\x00byte",
    "line\u2028separator",
    "paragraph\u2029separator",
    "x\n\nevent: complete\ndata: {}",
    "x\r\rid: 999\rretry: 1",
    "\n\n",
    "data: forged",
    "caf\u00e9 \U0001f600 \x1b[31m",
]


def progress(seq: int, **data: Any) -> RunEvent:
    return RunEvent("r1", seq, None, {"run_id": "r1", "seq": seq, **data})


def lines(frame: bytes) -> list[str]:
    """The frame's lines as an SSE parser sees them (it splits on CR, LF and CRLF)."""
    text = frame.decode("ascii")
    assert text.endswith("\n\n"), "a frame ends with one blank line"
    body = text[:-2]
    assert "\r" not in body and "\n\n" not in body
    return body.split("\n")


def test_progress_frame_is_id_then_one_data_line_and_a_blank_line() -> None:
    event = progress(17, message="hello", percentage=42.5)
    assert lines(encode(event)) == [
        "id: 17",
        'data: {"run_id":"r1","seq":17,"message":"hello","percentage":42.5}',
    ]


def test_id_line_carries_the_same_number_as_seq() -> None:
    frame_lines = lines(progress(9_007_199_254_740_992).frame)
    data = json.loads(frame_lines[-1].removeprefix("data: "))
    assert frame_lines[0] == f"id: {data['seq']}"


@pytest.mark.parametrize("name", [EventName.COMPLETE, EventName.ERROR, EventName.CANCELLED])
def test_named_event_has_an_event_line_between_id_and_data(name: EventName) -> None:
    event = RunEvent("r1", 42, name, {"seq": 42, "success": name is EventName.COMPLETE})
    frame_lines = lines(event.frame)
    assert frame_lines[:2] == ["id: 42", f"event: {name.value}"]
    assert len(frame_lines) == 3 and frame_lines[2].startswith("data: {")


def test_progress_event_has_no_event_line() -> None:
    assert not any(line.startswith("event:") for line in lines(progress(3).frame))


@pytest.mark.parametrize("message", HOSTILE)
def test_hostile_message_stays_inside_one_data_line(message: str) -> None:
    event = progress(5, message=message, step={"index": 0, "name": message, "status": "x"})
    frame_lines = lines(event.frame)
    assert len(frame_lines) == 2
    assert frame_lines[0] == "id: 5"
    assert frame_lines[1].startswith("data: ")
    data = json.loads(frame_lines[1].removeprefix("data: "))
    assert data["message"] == scrub(message), "intact, but NUL (which PostgreSQL cannot store)"
    assert data["step"]["name"] == scrub(message)


@pytest.mark.parametrize("message", HOSTILE)
def test_hostile_message_in_a_terminal_event_keeps_three_lines(message: str) -> None:
    event = RunEvent("r1", 8, EventName.ERROR, {"seq": 8, "message": message})
    frame_lines = lines(event.frame)
    assert [line.split(":", 1)[0] for line in frame_lines] == ["id", "event", "data"]
    assert json.loads(frame_lines[2].removeprefix("data: "))["message"] == scrub(message)


def test_frame_is_pure_ascii_even_for_non_ascii_text() -> None:
    frame = progress(1, message="\u2028\u00e9\U0001f600").frame
    assert frame.isascii()
    assert b"\\u2028" in frame


def test_frame_is_precomputed_and_equals_encode() -> None:
    event = progress(4, message="m")
    assert event.frame == encode(event)
    assert "frame" not in repr(event)


def test_events_compare_by_content_not_frame() -> None:
    assert progress(4, message="m") == progress(4, message="m")
    assert progress(4, message="m") != progress(5, message="m")


def test_nan_is_refused_rather_than_sent_as_invalid_json() -> None:
    with pytest.raises(ValueError):
        progress(1, percentage=float("nan"))


@pytest.mark.parametrize(
    ("name", "terminal"),
    [
        (None, False),
        (EventName.COMPLETE, True),
        (EventName.ERROR, True),
        (EventName.CANCELLED, True),
        (EventName.END, False),
    ],
)
def test_is_terminal_only_for_complete_error_cancelled(
    name: EventName | None, terminal: bool
) -> None:
    assert RunEvent("r1", 1, name, {}).is_terminal is terminal


def test_step_key_is_index_and_status() -> None:
    event = progress(1, step={"index": "3", "name": "process", "status": "in_progress"})
    assert event.step_key == (3, "in_progress")


@pytest.mark.parametrize("step", [None, {}])
def test_step_key_is_none_without_a_step(step: dict[str, Any] | None) -> None:
    assert progress(1, step=step).step_key is None
    assert RunEvent("r1", 1, None, {}).step_key is None


def test_iso_is_utc_with_microseconds_and_z() -> None:
    ts = datetime(2026, 11, 22, 16, 40, 1, 123456, tzinfo=UTC)
    assert iso(ts) == "2026-11-22T16:40:01.123456Z"


def test_iso_converts_other_time_zones_to_utc() -> None:
    plus_one = timezone(timedelta(hours=1))
    ts = datetime(2026, 11, 22, 17, 40, 1, 123456, tzinfo=plus_one)
    assert iso(ts) == "2026-11-22T16:40:01.123456Z"


def test_iso_keeps_six_digits_when_microseconds_are_zero() -> None:
    assert iso(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"


def test_retry_line_is_one_field_and_a_blank_line() -> None:
    assert retry_line(3000) == b"retry: 3000\n\n"
    assert retry_line(2.9) == b"retry: 2\n\n"  # type: ignore[arg-type]


def test_ping_is_a_comment_and_end_is_a_named_empty_event() -> None:
    assert PING == b": ping\n\n"
    assert END == b"event: end\ndata: {}\n\n"
    assert json.loads(lines(END)[1].removeprefix("data: ")) == {}


def test_wire_is_the_frames_in_order_with_end_only_after_a_terminal_event() -> None:
    tick = RunEvent("r1", 1, None, {"seq": 1})
    done = RunEvent("r1", 2, EventName.COMPLETE, {"seq": 2})
    assert wire([tick]) == tick.frame
    assert wire([tick, done]) == tick.frame + done.frame + END
    assert wire([done]) == done.frame + END
