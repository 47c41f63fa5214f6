"""The JSON examples of the docs are the wire contract: each one marked
`<!-- wire: ShapeName -->` right before its ```json block is checked against that
TypedDict of `progress_sse.wire`, so the docs and the code cannot drift apart."""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NotRequired, Required, Union, get_args, get_origin

import pytest

from progress_sse import wire
from progress_sse.runs.progress import terminal_payload
from progress_sse.runs.statuses import RunStatus

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / name for name in ("stream-contract.md", "api.md", "batches.md", "mail.md")]
# Every shape a client reads must be shown at least once.
SHOWN = ("ProgressEventJson", "TerminalEventJson", "RunJson", "WebhookJson", "KindJson",
         "BatchJson", "BatchProgressEventJson", "BatchTerminalEventJson",
         "MailRecipientJson")  # fmt: skip
MARKER = re.compile(r"^<!--\s*wire:\s*(\w+)\s*-->\s*$")


@dataclass(frozen=True)
class Example:
    doc: str  # relative to the repository
    line: int  # of the marker
    shape: str
    text: str

    def where(self) -> str:
        return f"{self.doc}:{self.line} ({self.shape})"


def marked_examples(path: Path) -> tuple[list[Example], list[str]]:
    """Every marked block of one doc, and every marker that is not followed by one."""
    lines = path.read_text(encoding="utf-8").splitlines()
    doc = path.relative_to(ROOT).as_posix()
    found, broken = [], []
    for number, line in enumerate(lines, 1):
        marker = MARKER.match(line.strip())
        if marker is None:
            continue
        shape = marker.group(1)
        if number >= len(lines) or lines[number].strip() != "```json":
            broken.append(f"{doc}:{number}: `wire: {shape}` must be right before a ```json block")
            continue
        end = next((i for i in range(number + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            broken.append(f"{doc}:{number}: the ```json block after `wire: {shape}` never closes")
            continue
        found.append(Example(doc, number, shape, "\n".join(lines[number + 1 : end])))
    return found, broken


EXAMPLES: list[Example] = []
BROKEN: list[str] = []
for _path in DOCS:
    _found, _broken = marked_examples(_path)
    EXAMPLES += _found
    BROKEN += _broken


def keys_of(shape: type) -> tuple[dict[str, Any], set[str]]:
    """The annotations of a TypedDict and which of its keys are required.

    `__required_keys__` cannot be trusted here: with `from __future__ import
    annotations` (as in wire.py), Python 3.11 sees `NotRequired[...]` only as a
    string when the class is made and counts every key as required. The resolved
    hints still carry the qualifier, so the keys are sorted from those.
    """
    hints = typing.get_type_hints(shape, include_extras=True)
    required = set()
    for key, hint in hints.items():
        origin = get_origin(hint)
        if origin is Required or (origin is not NotRequired and shape.__total__):
            required.add(key)
    return hints, required


def unwrap(hint: Any) -> Any:
    """`Required[X]` / `NotRequired[X]` -> X."""
    return get_args(hint)[0] if get_origin(hint) in (Required, NotRequired) else hint


def problems(value: Any, hint: Any, path: str) -> list[str]:
    """Why `value` (parsed JSON) does not fit `hint`; empty when it does."""
    hint = unwrap(hint)
    origin = get_origin(hint)
    if hint is Any:
        return []
    if typing.is_typeddict(hint):
        return shape_problems(value, hint, path)
    if origin in (Union, types.UnionType):
        arms = [problems(value, arm, path) for arm in get_args(hint)]
        if any(not arm for arm in arms):
            return []
        return [f"key {path!r}: {json.dumps(value)[:60]} is none of {_name(hint)}"]
    if origin is Literal:
        allowed = get_args(hint)
        if any(value == a and type(value) is type(a) for a in allowed):
            return []
        return [f"key {path!r}: {value!r} is not one of {list(allowed)}"]
    if origin is list:
        if not isinstance(value, list):
            return [f"key {path!r}: expected a list, got {_json_type(value)}"]
        (item,) = get_args(hint)
        return [p for i, v in enumerate(value) for p in problems(v, item, f"{path}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"key {path!r}: expected an object, got {_json_type(value)}"]
        _key, item = get_args(hint)
        return [p for k, v in value.items() for p in problems(v, item, f"{path}.{k}")]
    return _scalar_problems(value, hint, path)


def _scalar_problems(value: Any, hint: Any, path: str) -> list[str]:
    fits = {
        type(None): lambda v: v is None,
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }
    if hint not in fits:
        raise TypeError(f"{path}: the docs check cannot read the annotation {hint!r}; teach it")
    if fits[hint](value):
        return []
    return [f"key {path!r}: expected {_name(hint)}, got {_json_type(value)} {value!r:.60}"]


def shape_problems(value: Any, shape: type, path: str = "") -> list[str]:
    """Every missing, unknown or mistyped key of `value` as a `shape`."""
    if not isinstance(value, dict):
        return [f"{path or 'the example'}: expected a {shape.__name__} object"]
    hints, required = keys_of(shape)
    prefix = f"{path}." if path else ""
    found = [
        f"key {prefix}{key!r} is missing ({shape.__name__} requires it)"
        for key in sorted(required - value.keys())
    ]
    found += [
        f"key {prefix}{key!r} is not declared by {shape.__name__}"
        for key in sorted(value.keys() - hints.keys())
    ]
    for key in sorted(value.keys() & hints.keys()):
        found += problems(value[key], hints[key], f"{prefix}{key}")
    return found


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )


def parsed(example: Example) -> Any:
    try:
        return json.loads(example.text)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{example.where()}: the example is not JSON: {exc}")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.where() for e in EXAMPLES])
def test_every_marked_example_fits_its_wire_type(example: Example) -> None:
    shape = getattr(wire, example.shape, None)
    assert typing.is_typeddict(shape), (
        f"{example.where()}: `wire: {example.shape}` names no TypedDict in progress_sse.wire"
    )
    found = shape_problems(parsed(example), shape)
    assert not found, f"{example.where()}: " + "; ".join(found)


def test_every_marker_sits_right_before_a_json_block() -> None:
    assert not BROKEN, "; ".join(BROKEN)


@pytest.mark.parametrize("shape", SHOWN)
def test_every_shape_a_client_reads_has_a_marked_example(shape: str) -> None:
    docs = ", ".join(path.relative_to(ROOT).as_posix() for path in DOCS)
    assert any(e.shape == shape for e in EXAMPLES), (
        f"no example marked `<!-- wire: {shape} -->` in {docs}"
    )


TERMINALS = [e for e in EXAMPLES if e.shape == "TerminalEventJson"]


@pytest.mark.parametrize("example", TERMINALS, ids=[e.where() for e in TERMINALS])
def test_a_terminal_example_has_the_keys_the_server_writes_for_its_status(
    example: Example,
) -> None:
    """`complete` carries `result` and no `error_code`; `error` and `cancelled` the reverse,
    as `terminal_payload` writes them."""
    data = parsed(example)
    written = terminal_payload(
        run_id="r", seq=1, status=RunStatus(data["status"]), percentage=0.0, message="",
        processed=0, error_code=None, result=None, ts=datetime.now(UTC),
    )  # fmt: skip
    assert data.keys() == written.keys(), (
        f"{example.where()}: a {data['status']!r} event has the keys {sorted(written)}; "
        f"the example has {sorted(data)}"
    )


def test_the_checker_finds_what_is_wrong() -> None:
    """The check itself: a bogus key, a missing one, a wrong type, a bad Literal, deep down."""
    good = json.loads(next(e.text for e in EXAMPLES if e.shape == "WebhookJson"))
    assert shape_problems(good, wire.WebhookJson) == []
    bad = json.loads(json.dumps(good))
    bad["bogus"] = 1
    del bad["created_at"]
    bad["run"]["status"] = "done"
    bad["run"]["result"] = [1]
    found = shape_problems(bad, wire.WebhookJson)
    assert any("'bogus' is not declared by WebhookJson" in p for p in found), found
    assert any("'created_at' is missing" in p for p in found), found
    assert any("'run.status'" in p and "'done'" in p for p in found), found
    assert any("'run.result'" in p for p in found), found
    progress = {"run_id": "r", "seq": True}
    assert any("'seq'" in p for p in shape_problems(progress, wire.ProgressEventJson))
