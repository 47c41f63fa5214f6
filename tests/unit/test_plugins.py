"""Job plugins: found through the entry-point group and `PROGRESS_SSE_JOBS`, checked
together, and refused with one clear message when they cannot work."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from progress_sse import JobKind, StepSpec, even_steps
from progress_sse.errors import Misconfigured
from progress_sse.plugins import discover
from progress_sse.settings import Settings
from tests.plugin_fixtures.kinds import ONE, done


def kinds(settings: Settings) -> list[str]:
    return discover(settings).registry.names


def test_the_accounting_application_is_found_through_its_entry_point() -> None:
    plugins = discover(Settings())
    assert "accounting" in plugins.names
    assert {"asset_depreciation", "asset_import", "demo"} <= set(plugins.registry.names)
    assert any(route.path == "/api/periods" for route in plugins.routes())  # type: ignore[attr-defined]


def test_a_disabled_plugin_is_not_loaded_and_the_engine_keeps_its_demo_kind() -> None:
    assert kinds(Settings(disable_plugins="accounting")) == sorted(
        set(kinds(Settings())) - {"asset_depreciation", "asset_import", "period_lock"}
    )


@pytest.mark.parametrize(
    ("spec", "added"),
    [
        ("tests.plugin_fixtures.kinds:ONE", {"one"}),
        ("tests.plugin_fixtures.kinds:TWO", {"two_a", "two_b"}),
        ("tests.plugin_fixtures.kinds:PLUGIN", {"three"}),
        (
            "tests.plugin_fixtures.kinds:ONE, tests.plugin_fixtures.kinds:TWO",
            {"one", "two_a", "two_b"},
        ),
    ],
)
def test_the_setting_names_a_kind_a_sequence_of_kinds_or_a_plugin(
    spec: str, added: set[str]
) -> None:
    assert set(kinds(Settings(jobs=spec))) - set(kinds(Settings())) == added


def test_the_same_kind_installed_and_configured_counts_once() -> None:
    spec = "tests.plugin_fixtures.kinds:ONE"
    assert kinds(Settings(jobs=f"{spec},{spec}")).count("one") == 1


def test_kinds_handed_to_create_app_join_the_discovered_ones() -> None:
    assert "one" in discover(Settings(), extra=[ONE]).registry.names


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("tests.plugin_fixtures.kinds:CLASHING", "'asset_depreciation' comes from both"),
        ("tests.plugin_fixtures.kinds:NOT_A_KIND", "names dict; a job plugin names a JobKind"),
        ("tests.plugin_fixtures.kinds:MISSING", "could not be loaded: AttributeError"),
        ("tests.plugin_fixtures.nowhere:ONE", "could not be loaded: ModuleNotFoundError"),
    ],
)
def test_a_plugin_that_cannot_work_is_refused_naming_it(spec: str, says: str) -> None:
    with pytest.raises(Misconfigured, match=says.replace("(", r"\(")):
        discover(Settings(jobs=spec))


def test_a_setting_that_is_not_module_colon_attribute_is_refused() -> None:
    with pytest.raises(ValidationError, match="is not `module:attribute`"):
        Settings(jobs="just_a_module")


class Tables(BaseModel):
    tables: list[str] = ["a", "b"]


def test_steps_may_depend_on_the_params_and_are_checked_per_run() -> None:
    kind = JobKind(name="sync", params=Tables, run=done, steps=lambda p: even_steps(p.tables))
    assert [s.name for s in kind.steps_for(Tables(tables=["x", "y", "z"]))] == ["x", "y", "z"]
    with pytest.raises(ValueError, match="unique"):
        kind.steps_for(Tables(tables=["x", "x"]))


def test_fixed_steps_and_names_are_checked_when_the_kind_is_made() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        JobKind(
            name="k", params=Tables, run=done, steps=(StepSpec("a", 0, 60), StepSpec("b", 50, 100))
        )
    for bad in ("", "Has Upper", "a b", "x" * 65, "ünï"):
        with pytest.raises(ValueError, match="job kind name"):
            JobKind(name=bad, params=Tables, run=done)


def test_even_steps_share_the_bar_by_weight_and_end_at_100() -> None:
    assert [(s.start, s.end) for s in even_steps(["a", "b"], [1, 3])] == [
        (0.0, 25.0),
        (25.0, 100.0),
    ]
    assert even_steps(["only"])[0].end == 100.0
    with pytest.raises(ValueError, match="positive weight"):
        even_steps(["a", "b"], [1, 0])
