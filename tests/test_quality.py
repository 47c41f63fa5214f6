"""The house tooling runs with the tests: ruff (lint and format), mypy strict on src/, and
the import contracts (`[tool.importlinter]` in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "src", "tests", "alembic", "bench", "examples"],
        ["ruff", "format", "--check", "src", "tests", "alembic", "bench", "examples"],
        ["mypy"],
        ["lint-imports"],
    ],
    ids=["ruff-check", "ruff-format", "mypy", "import-contracts"],
)
def test_tooling_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_engine_package_is_held_to_the_no_accounting_contract() -> None:
    """A new engine package must join the contract's list, or it could import accounting."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    listed = set(config["contracts"][0]["source_modules"])
    package = ROOT / "src" / "progress_sse"
    found = {
        f"progress_sse.{p.stem if p.is_file() else p.name}"
        for p in package.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert found - {"progress_sse.accounting"} == listed
