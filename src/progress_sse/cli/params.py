"""`-p name=value` pairs read by the kind's own params model (its JSON Schema), pure.

The server validates again; reading the schema here lets the command line say
what is wrong before a request is sent (an unknown name, a number that is not
one), keep text as text (`-p code=007` stays "007"), and take lists as
`-p tables=customers,invoices`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]
TRUE, FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


class ParamError(ValueError):
    """One `-p` pair that cannot be what the kind expects; the message says why."""


@dataclass(frozen=True, slots=True)
class Param:
    """One field of a kind's params, as the command line shows it (`runs kinds KIND`)."""

    name: str
    type: str  # integer, number, string, boolean, array of …, one of …, json
    required: bool
    default: Any
    description: str


def fields(schema: Schema) -> list[Param]:
    """The fields of a params schema, in the model's order."""
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        resolved, _nullable = _resolve(schema, prop)
        out.append(
            Param(
                name=name,
                type=_describe(schema, resolved),
                required=name in required,
                default=prop.get("default"),
                description=str(prop.get("description", "")),
            )
        )
    return out


def coerce(pairs: list[str], schema: Schema) -> dict[str, Any]:
    """`["year=2026", "tables=a,b"]` -> `{"year": 2026, "tables": ["a", "b"]}` per `schema`."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ParamError(f"{pair!r} is not key=value")
        if name not in properties:
            known = ", ".join(properties) or "none"
            raise ParamError(f"unknown parameter {name!r}; this kind takes: {known}")
        params[name] = value_of(schema, properties[name], name, raw)
    return params


def value_of(schema: Schema, prop: Schema, name: str, raw: str) -> Any:
    """One value, read as the field's type says."""
    resolved, nullable = _resolve(schema, prop)
    if nullable and raw in ("", "null", "none"):
        return None
    kind = resolved.get("type")
    if "enum" in resolved:
        choices = [str(c) for c in resolved["enum"]]
        if raw not in choices:
            raise ParamError(f"{name} must be one of: {', '.join(choices)} (not {raw!r})")
        return resolved["enum"][choices.index(raw)]
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ParamError(f"{name} must be a whole number (not {raw!r})") from None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise ParamError(f"{name} must be a number (not {raw!r})") from None
    if kind == "boolean":
        if raw.lower() in TRUE | FALSE:
            return raw.lower() in TRUE
        raise ParamError(f"{name} must be true or false (not {raw!r})")
    if kind == "array":
        items = resolved.get("items", {})
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        return [value_of(schema, items, name, part) for part in parts]
    if kind == "string":
        return raw
    try:  # an object, or a schema this reader does not know: JSON as written
        return json.loads(raw)
    except ValueError:
        raise ParamError(f"{name} must be JSON here (not {raw!r})") from None


def _resolve(schema: Schema, prop: Schema) -> tuple[Schema, bool]:
    """The field's own schema (through `$ref` and `anyOf [X, null]`), and whether null is ok."""
    nullable = False
    options = prop.get("anyOf")
    if options is not None:
        concrete = [o for o in options if o.get("type") != "null"]
        nullable = len(concrete) < len(options)
        if len(concrete) == 1:
            prop = {**prop, **concrete[0]}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        prop = {**prop, **schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})}
    return prop, nullable


def _describe(schema: Schema, prop: Schema) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(str(c) for c in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        item, _ = _resolve(schema, prop.get("items", {}))
        return f"list of {_describe(schema, item)} (comma-separated)"
    return str(kind) if kind in ("integer", "number", "string", "boolean") else "json"
