"""Any text a job or a user supplies reaches the browser as data of exactly one event."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from progress_sse.runs.events import END, RunEvent, retry_line
from progress_sse.runs.statuses import EventName
from progress_sse.storage.text import scrub
from tests.whatwg_sse import parse

# Every code point, surrogates included, and the ones that end lines in SSE or JavaScript.
HOSTILE = ["\r", "\n", "\r\n", "\0", "\u2028", "\u2029", "\x85", "\ufeff", "data: x", "id: 9"]
text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=())),
    st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
payloads = st.fixed_dictionaries(
    {
        "message": text,
        "status": text,
        "step": st.fixed_dictionaries({"index": st.integers(0, 9), "name": text, "status": text}),
        "error": text,
        "result": st.dictionaries(text, json_values, max_size=4),
    }
)
names = st.sampled_from([None, *EventName])


@settings(max_examples=400, deadline=None)
@given(seq=st.integers(1, 2**53), name=names, data=payloads)
def test_every_field_round_trips_as_exactly_one_event(
    seq: int, name: EventName | None, data: dict[str, Any]
) -> None:
    event = RunEvent("r1", seq, name, data)
    events, _retry = parse(event.frame)
    assert len(events) == 1
    (seen,) = events
    assert seen.type == (name.value if name else "message")
    assert seen.last_event_id == str(seq)
    assert json.loads(seen.data) == scrub(data), "exactly the data (NUL aside: U+FFFD)"


@settings(max_examples=200, deadline=None)
@given(first=payloads, second=payloads)
def test_a_stream_of_frames_never_merges_or_splits_events(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    stream = retry_line(3000) + RunEvent("r1", 1, None, first).frame + b": ping\n\n"
    stream += RunEvent("r1", 2, EventName.COMPLETE, second).frame + END
    events, retry = parse(stream)
    assert retry == 3000
    assert [(e.type, e.last_event_id) for e in events] == [
        ("message", "1"),
        ("complete", "2"),
        ("end", "2"),
    ]
    assert [json.loads(e.data) for e in events] == [scrub(first), scrub(second), {}]


def test_an_injection_attempt_stays_inside_its_json_string() -> None:
    attack = "done\r\nevent: complete\r\ndata: {}\r\n\r\nid: 999\n\ndata: x\u2028\0"
    events, _ = parse(RunEvent("r1", 5, None, {"message": attack}).frame)
    assert [(e.type, e.last_event_id) for e in events] == [("message", "5")]
    assert json.loads(events[0].data)["message"] == scrub(attack)


def test_the_parser_itself_sees_what_a_raw_newline_would_do() -> None:
    """The yardstick can fail: an unescaped newline in data does start a new field."""
    raw = b'id: 1\ndata: {"m": "a\nevent: complete\n"}\n\n'
    events, _ = parse(raw)
    assert events[0].type == "complete" and events[0].data == '{"m": "a'
