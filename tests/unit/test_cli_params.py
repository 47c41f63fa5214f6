"""`runs start KIND -p name=value`: values read by the kind's params schema, before sending."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, Field

from progress_sse.cli.params import ParamError, coerce, fields
from progress_sse.jobs.demo import DemoParams


class Table(StrEnum):
    CUSTOMERS = "customers"
    INVOICES = "invoices"


class SyncParams(BaseModel):
    tables: list[Table] = Field(default=[Table.CUSTOMERS], description="what to copy")
    batch_size: int = Field(default=500, ge=1)
    ratio: float = 1.0
    code: str = "000"
    dry_run: bool = False
    limit: int | None = None
    mode: Table | None = None
    extra: dict[str, Any] = {}


SCHEMA = SyncParams.model_json_schema()


@pytest.mark.parametrize(
    ("pair", "value"),
    [
        ("tables=customers,invoices", {"tables": ["customers", "invoices"]}),
        ("tables=customers", {"tables": ["customers"]}),
        ("batch_size=200", {"batch_size": 200}),
        ("ratio=0.5", {"ratio": 0.5}),
        ("code=007", {"code": "007"}),  # text stays text
        ("dry_run=yes", {"dry_run": True}),
        ("dry_run=false", {"dry_run": False}),
        ("limit=null", {"limit": None}),
        ("limit=10", {"limit": 10}),
        ("mode=invoices", {"mode": "invoices"}),
        ('extra={"a": 1}', {"extra": {"a": 1}}),
    ],
)
def test_each_value_is_read_as_its_field_says(pair: str, value: dict[str, Any]) -> None:
    assert SyncParams.model_validate(coerce([pair], SCHEMA)) == SyncParams.model_validate(value)
    assert coerce([pair], SCHEMA) == value


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        ("batch_size=many", "batch_size must be a whole number (not 'many')"),
        ("ratio=half", "ratio must be a number"),
        ("dry_run=maybe", "dry_run must be true or false"),
        ("tables=customers,orders", "tables must be one of: customers, invoices (not 'orders')"),
        ("mode=x", "mode must be one of"),
        ("colour=red", "unknown parameter 'colour'; this kind takes: tables, batch_size"),
        ("batch_size", "is not key=value"),
        ("extra={", "extra must be JSON here"),
    ],
)
def test_a_value_that_cannot_be_is_refused_before_sending(pair: str, says: str) -> None:
    with pytest.raises(ParamError, match=says.replace("(", r"\(").replace(")", r"\)")):
        coerce([pair], SCHEMA)


def test_the_fields_list_what_the_command_line_takes() -> None:
    listed = {f.name: f for f in fields(SCHEMA)}
    assert list(listed)[:2] == ["tables", "batch_size"]
    assert listed["tables"].type == "list of one of customers, invoices (comma-separated)"
    assert listed["tables"].description == "what to copy"
    assert listed["batch_size"].type == "integer" and listed["batch_size"].default == 500
    assert listed["limit"].type == "integer" and not listed["limit"].required
    assert listed["mode"].type == "one of customers, invoices"
    assert listed["extra"].type == "json"


def test_the_demo_kind_reads_its_numbers_and_its_lock_text() -> None:
    schema = DemoParams.model_json_schema()
    assert coerce(["items=5", "lock=42", "fail_at=null"], schema) == {
        "items": 5, "lock": "42", "fail_at": None,
    }  # fmt: skip
