"""Text every database can store: PostgreSQL's text and JSON types cannot hold NUL (pure)."""

from __future__ import annotations

from typing import Any


def scrub(value: Any) -> Any:
    """NUL becomes U+FFFD in every string, key or value (PostgreSQL text cannot hold NUL)."""
    if isinstance(value, str):
        return value.replace("\0", "\ufffd") if "\0" in value else value
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
