"""The public API: what `__all__` names, all documented, cheap to import, and the page of
docs/python-api.md written from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import progress_sse
from tests.api_reference import page

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_resolves_and_says_what_it_is() -> None:
    for name in progress_sse.__all__:
        value = getattr(progress_sse, name)
        assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_the_job_author_s_and_the_integrator_s_names_are_public() -> None:
    assert {"JobKind", "StepSpec", "JobContext", "JobError", "create_app", "Settings"} <= set(
        progress_sse.__all__
    )


def test_importing_the_package_loads_neither_the_web_nor_the_database_stack() -> None:
    probe = (
        "import sys, progress_sse; "
        "print(sorted(m for m in ('sqlalchemy', 'starlette', 'progress_sse.web.app') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        progress_sse.NotAThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NotAThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_the_python_api_page_is_what_the_docstrings_say() -> None:
    written = (ROOT / "docs" / "python-api.md").read_text()
    assert written == page(), "run: python -m tests.api_reference > docs/python-api.md"
