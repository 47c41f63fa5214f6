"""Log lines: readable or JSON, and a run's lines name the run and its tenant."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from progress_sse.logs import CURRENT_RUN, RunContext, formatter


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
