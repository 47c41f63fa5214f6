"""The suite tests examples/table-sync as installed: if the installed copy is older than the
source (edited since, or a wheel pip kept from an earlier build), say so plainly instead of
failing somewhere far away."""

from __future__ import annotations

from pathlib import Path

import table_sync

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "table-sync" / "src" / "table_sync"


def test_the_installed_example_is_the_one_in_this_checkout() -> None:
    installed = Path(table_sync.__file__).resolve().parent
    stale = [
        path.name
        for path in sorted(SOURCE.glob("*.py"))
        if not (installed / path.name).is_file()
        or (installed / path.name).read_bytes() != path.read_bytes()
    ]
    assert not stale, (
        f"the installed table_sync ({installed}) differs from examples/table-sync in "
        f"{', '.join(stale)}: reinstall it with "
        "`.venv/bin/pip install --no-deps --no-cache-dir --force-reinstall ./examples/table-sync`"
    )
