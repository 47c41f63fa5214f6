"""NUL in JSON and in text: stored as U+FFFD on both databases, never a 500."""

from __future__ import annotations

import json

from progress_sse.storage.db import json_without_nul


def test_json_with_a_nul_is_stored_with_u_fffd_and_a_literal_escape_is_kept() -> None:
    assert json.loads(json_without_nul({"a\x00": ["x\x00y"]})) == {"a\ufffd": ["x\ufffdy"]}
    literal = {"a": "\\u0000"}  # a backslash and five characters, no NUL
    assert json.loads(json_without_nul(literal)) == literal
