"""The job registry: unknown kinds and bad params become named 422 errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from progress_sse.errors import ValidationFailed
from progress_sse.jobs.demo import DemoParams
from progress_sse.jobs.kinds import JobKind, JobRegistry
from progress_sse.plugins import discover
from progress_sse.settings import Settings


class Params(BaseModel):
    n: int = 1


async def nothing(_ctx: Any, _params: Any) -> None:
    return None


def kind(name: str = "k") -> JobKind:
    return JobKind(name=name, params=Params, run=nothing)


def field_names(exc: ValidationFailed) -> list[str]:
    return [f["field"] for f in exc.extra["fields"]]


def default_registry() -> JobRegistry:
    """What a process with no plugins has: the engine's own demo kind."""
    return discover(Settings(disable_plugins="accounting")).registry


def test_the_engine_alone_runs_the_demo_kind() -> None:
    registry = default_registry()
    assert "demo" in registry.names
    assert registry.get("demo").params is DemoParams


def test_each_discovery_is_a_fresh_registry() -> None:
    first = default_registry()
    first.register(kind("extra"))
    assert "extra" not in default_registry().names


def test_unknown_kind_is_a_validation_error_with_code_unknown_kind() -> None:
    with pytest.raises(ValidationFailed) as info:
        default_registry().get("nope")
    assert info.value.code == "unknown_kind"
    assert info.value.status_code == 422
    assert field_names(info.value) == ["kind"]
    assert "demo" in info.value.message


def test_registering_a_kind_twice_raises() -> None:
    registry = JobRegistry([kind("a")])
    with pytest.raises(ValueError, match="twice"):
        registry.register(kind("a"))
    with pytest.raises(ValueError):
        JobRegistry([kind("b"), kind("b")])


def test_names_are_sorted() -> None:
    assert JobRegistry([kind("b"), kind("a")]).names == ["a", "b"]


def test_valid_params_are_parsed_with_the_kind_model() -> None:
    job, params = default_registry().validate("demo", {"items": 5, "delay_ms": 0})
    assert job.name == "demo"
    assert isinstance(params, DemoParams)
    assert (params.items, params.delay_ms) == (5, 0)


def test_missing_params_mean_the_defaults() -> None:
    _, params = default_registry().validate("demo", None)
    assert params == DemoParams()


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"items": 0}, ["params.items"]),
        ({"items": "many"}, ["params.items"]),
        ({"delay_ms": -1, "lock": ""}, ["params.delay_ms", "params.lock"]),
        ({"bogus": 1}, ["params.bogus"]),
    ],
)
def test_bad_params_name_every_bad_field(params: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationFailed) as info:
        default_registry().validate("demo", params)
    assert info.value.code == "validation_error"
    assert sorted(field_names(info.value)) == fields
    assert all(f["message"] for f in info.value.extra["fields"])
    assert fields[0] in info.value.message


def test_params_that_are_not_an_object_are_rejected() -> None:
    with pytest.raises(ValidationFailed):
        default_registry().validate("demo", [1, 2])


def test_validate_checks_the_kind_first() -> None:
    with pytest.raises(ValidationFailed) as info:
        default_registry().validate("nope", {"items": 0})
    assert info.value.code == "unknown_kind"


def test_a_pausable_kind_must_be_resumable() -> None:
    """A pause ends an attempt; continuing is a resume, so a kind that cannot resume cannot
    pause either."""
    with pytest.raises(ValueError, match="pausable kind must be resumable"):
        JobKind(name="p", params=Params, run=nothing, pausable=True)
    registry = JobRegistry([JobKind(name="p", params=Params, run=nothing, resumable=True,
                                    pausable=True), kind("q")])  # fmt: skip
    assert registry.pausable("p") and not registry.pausable("q")
    assert not registry.pausable("gone"), "a kind no longer installed never pauses"


def test_the_installed_kinds_that_pause_are_those_that_commit_in_chunks() -> None:
    registry = discover(Settings()).registry
    assert [n for n in registry.names if registry.pausable(n)] == ["asset_import", "table_sync"]
