"""The access log line: query values are hidden unless known harmless."""

from __future__ import annotations

from progress_sse.accesslog import redact_query, request_line


def test_only_known_harmless_query_values_are_shown() -> None:
    assert redact_query("limit=5&status=failed") == "limit=5&status=failed"
    assert redact_query("api_key=pss_secret&limit=5") == "api_key=***&limit=5"
    assert redact_query("token=a&x=b&cursor=c") == "token=***&x=***&cursor=c"


def test_long_values_and_paths_are_cut() -> None:
    assert redact_query("kind=" + "k" * 100) == "kind=***"
    line = request_line("GET", "/" + "p" * 500, b"")
    assert len(line) < 220 and line.endswith("…")


def test_a_request_without_a_query_has_no_question_mark() -> None:
    assert request_line("POST", "/api/runs", b"") == "POST /api/runs"
