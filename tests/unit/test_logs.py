"""Log lines: readable or JSON, and a run's lines name the run and its tenant."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from progress_sse.ops.logs import CURRENT_RUN, RunContext, escape_controls, formatter


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RunContext())
    logger = logging.getLogger(f"tests.logs.{fmt}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_lines_logged_inside_a_run_carry_its_id_and_tenant(fmt: str) -> None:
    logger, stream = capture(fmt)

    async def job() -> None:
        CURRENT_RUN.set(("r123", "acme"))
        logger.info("posting %d entries", 3)

    await asyncio.create_task(job())
    logger.info("outside any run")
    first, second = stream.getvalue().splitlines()
    if fmt == "json":
        inside, outside = json.loads(first), json.loads(second)
        assert inside["run_id"] == "r123" and inside["tenant"] == "acme"
        assert inside["message"] == "posting 3 entries" and inside["level"] == "INFO"
        assert outside["run_id"] is None
    else:
        assert first.endswith("posting 3 entries [run r123 tenant acme]")
        assert "[run" not in second


FORGED = "x\n2026-01-01 00:00:00,000 CRITICAL progress_sse.auth: FORGED"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x00\x1b[31m\x7f", "\\x00\\x1b[31m\\x7f"),
        ("next\x85line", "next\\x85line"),  # C1: NEL
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("café /api/runs?x=1 \\n", "café /api/runs?x=1 \\n"),  # printable text is left alone
    ],
)
def test_control_characters_are_shown_as_escapes(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_every_c0_and_c1_control_is_escaped() -> None:
    controls = [*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0)), "\u2028", "\u2029"]
    for char in controls:
        assert escape_controls(char).startswith("\\"), repr(char)
    assert escape_controls("".join(map(chr, range(0x20, 0x7F)))) == "".join(
        map(chr, range(0x20, 0x7F))
    )


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_message_with_a_newline_stays_one_line_in_either_format(fmt: str) -> None:
    logger, stream = capture(fmt)
    logger.warning("GET %s 404", "/api/runs/" + FORGED + "\r\u2028\x85")
    (line,) = stream.getvalue().splitlines()  # splitlines breaks at NEL and U+2028 too
    if fmt == "json":  # JSON escapes them in the line; the reader gets the text back exactly
        assert json.loads(line)["message"] == f"GET /api/runs/{FORGED}\r\u2028\x85 404"
    else:
        assert line.endswith(
            "GET /api/runs/x\\n2026-01-01 00:00:00,000 CRITICAL progress_sse.auth: FORGED"
            "\\r\\u2028\\x85 404"
        )


def test_a_traceback_still_follows_the_escaped_line_on_lines_of_its_own() -> None:
    logger, stream = capture("text")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed on %s", FORGED)
    head, *traceback = stream.getvalue().splitlines()
    assert head.endswith("failed on " + FORGED.replace("\n", "\\n"))
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"
