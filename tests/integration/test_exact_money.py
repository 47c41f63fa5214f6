"""Every numeric column keeps exactly what was written, on SQLite and PostgreSQL.

The PostgreSQL defect this guards against: every ExactDecimal bound through
NUMERIC(18, 2), so a rate of 0.125 was stored as 0.13. The property test
writes values at the edges of each column's precision and scale through the
column's own type and reads them back; the schema test checks that the
migrated columns are what those types expect.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from progress_sse.plugins import discover
from progress_sse.runs.models import Base, ExactDecimal
from progress_sse.settings import Settings
from progress_sse.storage import db


def exact_columns() -> list[sa.Column[Any]]:
    """Every ExactDecimal column of every table the migrations create."""
    return [
        column
        for table in discover(Settings()).metadata().sorted_tables  # every plugin's too
        for column in table.columns
        if isinstance(column.type, ExactDecimal)
    ]


def test_money_and_rates_are_exact_decimals_everywhere() -> None:
    """No float or plain Numeric column holds money: every numeric business column is exact."""
    names = {f"{c.table.name}.{c.name}" for c in exact_columns()}
    assert {"assets.cost", "assets.salvage", "assets.annual_rate"} <= names
    assert {"depreciation_entries.amount", "depreciation_documents.total_amount"} <= names
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float):
                pytest.fail(f"{table.name}.{column.name} is a Numeric outside ExactDecimal")


def largest(column_type: ExactDecimal) -> Decimal:
    return Decimal(10) ** (column_type.precision - column_type.scale) - Decimal(1).scaleb(
        -column_type.scale
    )


def values_for(column_type: ExactDecimal) -> st.SearchStrategy[Decimal]:
    top, unit = largest(column_type), Decimal(1).scaleb(-column_type.scale)
    edges = [top, -top, unit, -unit, Decimal(0), top - unit]
    if column_type.scale >= 4:
        edges += [Decimal("0.125000"), Decimal("0.062500")]  # the tax-group rates 0.13 lost
    anywhere = st.decimals(
        min_value=-top, max_value=top, places=column_type.scale, allow_nan=False,
        allow_infinity=False,
    )  # fmt: skip
    return st.one_of(st.sampled_from(edges), anywhere)


TYPES = {(c.type.precision, c.type.scale): c.type for c in exact_columns()}  # type: ignore[attr-defined]
SCRATCH = sa.Table(
    "exact_money_roundtrip",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    *(sa.Column(f"v_{p}_{s}", ExactDecimal(p, s)) for p, s in TYPES),
)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(settings.business_url, settings)
    async with engine.begin() as conn:
        await conn.run_sync(SCRATCH.create)
    try:
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(SCRATCH.drop)
        await engine.dispose()


@hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(row=st.fixed_dictionaries({f"v_{p}_{s}": values_for(t) for (p, s), t in TYPES.items()}))
async def test_every_exact_type_round_trips_at_the_edges_of_its_precision(
    engine: AsyncEngine, row: dict[str, Decimal]
) -> None:
    async with engine.begin() as conn:
        await conn.execute(SCRATCH.delete())
        await conn.execute(SCRATCH.insert().values(id=1, **row))
        back = (await conn.execute(sa.select(SCRATCH).where(SCRATCH.c.id == 1))).one()._asdict()
        if conn.dialect.name == "sqlite":  # the raw form posting.py and register.py rely on
            names = ", ".join(f"typeof({n}), {n}" for n in row)
            raw = (await conn.exec_driver_sql(f"SELECT {names} FROM {SCRATCH.name}")).one()
            for i, (name, value) in enumerate(row.items()):
                scale = int(name.rsplit("_", 1)[1])
                assert raw[2 * i : 2 * i + 2] == ("integer", int(value.scaleb(scale)))
    del back["id"]
    assert back == row
    for name, value in back.items():
        scale = int(name.rsplit("_", 1)[1])
        assert value.as_tuple().exponent == -scale, f"{name} reads back with {scale} places"


@pytest.mark.parametrize("bad", [Decimal("0.125"), Decimal("1E+16"), Decimal("NaN")])
def test_a_value_that_does_not_fit_is_refused_not_rounded(bad: Decimal) -> None:
    with pytest.raises(ValueError, match=r"NUMERIC|decimal places"):
        ExactDecimal(18, 2).check(bad)


async def test_the_migrated_columns_are_what_their_types_expect(settings: Settings) -> None:
    """PostgreSQL: NUMERIC(p, s) as declared. SQLite: an integer column (minor units)."""
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(_declared_types)
    finally:
        await engine.dispose()
    for column in exact_columns():
        declared = found[(column.table.name, column.name)]
        if engine.dialect.name == "sqlite":
            assert "INT" in declared.upper(), f"{column.table.name}.{column.name}: {declared}"
        else:
            assert declared == (column.type.precision, column.type.scale)  # type: ignore[attr-defined]


def _declared_types(connection: sa.Connection) -> dict[tuple[str, str], Any]:
    inspector = sa.inspect(connection)
    found: dict[tuple[str, str], Any] = {}
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            kind = column["type"]
            if connection.dialect.name == "sqlite":
                found[(table, column["name"])] = str(kind)
            else:
                found[(table, column["name"])] = (
                    getattr(kind, "precision", None), getattr(kind, "scale", None),
                )  # fmt: skip
    return found
