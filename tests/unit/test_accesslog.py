"""The access log line: query values are hidden unless known harmless."""

from __future__ import annotations

from progress_sse.web.middleware.accesslog import redact_query, request_line


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


def test_control_characters_from_the_request_are_escaped_in_every_part() -> None:
    forged = "\n2026-01-01 00:00:00,000 CRITICAL progress_sse.web.security.auth: FORGED"
    line = request_line(
        "GET", "/api/runs/x" + forged, b"limit=%0D%0A&%0Aname%C2%85=1&cursor=%E2%80%A8"
    )
    assert "\n" not in line and "\r" not in line and "\x85" not in line
    assert line == (
        "GET /api/runs/x\\n2026-01-01 00:00:00,000 CRITICAL progress_sse.web.security.auth: FORGED"
        "?limit=\\r\\n&\\nname\\x85=***&cursor=\\u2028"
    )


def test_a_long_path_is_cut_before_it_is_escaped() -> None:
    line = request_line("GET", "/" + "\n" * 500, b"")
    assert line == "GET /" + "\\n" * 199 + "…", "never half an escape"


def test_a_sent_backslash_never_reads_like_an_escaped_control_character() -> None:
    sent_backslash_n = request_line("GET", "/api/runs/a\\nb", b"")
    real_newline = request_line("GET", "/api/runs/a\nb", b"")
    assert sent_backslash_n == "GET /api/runs/a\\\\nb"
    assert real_newline == "GET /api/runs/a\\nb"
    assert sent_backslash_n != real_newline
