"""An event-stream parser that follows the WHATWG HTML spec, section 9.2.6, to the letter.

It is the yardstick for the encoder's property tests: whatever bytes we send,
a conforming browser would see exactly the events this parser returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True)
class Dispatched:
    type: str
    data: str
    last_event_id: str


def parse(stream: bytes) -> tuple[list[Dispatched], int | None]:
    """All events a browser would dispatch from `stream`, and the last `retry` it would take."""
    text = stream.decode("utf-8", errors="replace")  # the spec's UTF-8 decode
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = LINE.split(text)
    lines.pop()  # the part after the last line break is not a complete line
    events: list[Dispatched] = []
    data, event_type, id_buffer, last_id = "", "", "", ""
    retry: int | None = None
    for line in lines:
        if line == "":
            last_id = id_buffer
            if data == "":
                event_type = ""
                continue
            events.append(Dispatched(event_type or "message", data.removesuffix("\n"), last_id))
            data, event_type = "", ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and value and all("0" <= c <= "9" for c in value):
            retry = int(value)
    return events, retry
