"""The log scan that ends the suite can fail: it finds keys and cookies where they would leak."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from progress_sse.web.security.auth import new_key
from tests.secret_scan import SecretScan, leaks_in_files, secrets_in

COOKIE = (  # the shape itsdangerous gives a signed session
    "eyJrIjoxLCJjIjoicF9RZ3NLU041d1JkdC0zaVdvS0dFWG0zc25vVUlnTVkifQ.awS-cA."
    "UpcquwoFkRktXYvHZyr1oaMM7OU"
)


def test_keys_and_session_cookies_are_found_and_prefixes_are_not() -> None:
    key = new_key()
    assert secrets_in(f"GET /api/runs?api_key={key}") == [key]
    assert secrets_in(f"cookie pss_session={COOKIE}") == [COOKIE]
    assert secrets_in(f"audit: {key[:10]} reset tenant acme") == []


def test_a_log_record_carrying_a_key_is_kept_as_a_leak() -> None:
    scan = SecretScan()  # fed directly: a real log call would trip the suite's own scan
    for args in [(new_key(),), ("***",)]:
        scan.handle(
            logging.LogRecord(
                "progress_sse.access", logging.INFO, __file__, 1, "GET /x?k=%s", args, None
            )
        )
    assert scan.records == 2 and scan.access_lines == 2 and len(scan.leaks) == 1


def test_server_log_files_are_scanned_but_the_demo_key_print_is_not_a_log_line() -> None:
    key = new_key()
    with tempfile.TemporaryDirectory() as folder:  # outside the suite's scanned temp folder
        (Path(folder) / "serve.log").write_text(
            f"{key}\n"
            f"INFO progress_sse.access: GET /?k={key}\n"
            f"2026-11-23 23:40:00,123 WARNING progress_sse.x: {key}\n"
            f'{{"level": "INFO", "message": "{key}"}}\n'
        )
        assert len(leaks_in_files(Path(folder))) == 3
