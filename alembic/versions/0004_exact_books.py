"""exact money on SQLite, depreciation documents, per-month numbering, import rejections

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 14:00:00

- SQLite kept NUMERIC money as REAL (15 significant digits); it now stores
  integer minor units (cents; millionths for rates). The tables are rebuilt
  and every value converted with ROUND(x * 10^scale), exact for what a REAL held.
- PostgreSQL stored every rate bound through NUMERIC(18, 2) (0.125 became
  0.13). Rates of assets in a tax group are restored from the group's table;
  an explicit rate with more than two places cannot be recovered here and
  must be imported again.
- Each posted month becomes a document (`depreciation_documents`); entries
  point to it, and several documents of one month may exist (a reversal and
  its replacement). Numbers count per month (`DEP/YYYY/MM`): each month's
  counter starts after the highest number already used in it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)
# (tax group, method) -> rate, from the tax-group table of the schedule (PMK 72/2023).
GROUP_RATES = {
    ("1", "straight_line"): "0.25", ("1", "declining_balance"): "0.50",
    ("2", "straight_line"): "0.125", ("2", "declining_balance"): "0.25",
    ("3", "straight_line"): "0.0625", ("3", "declining_balance"): "0.125",
    ("4", "straight_line"): "0.05", ("4", "declining_balance"): "0.10",
    ("building_permanent", "straight_line"): "0.05",
    ("building_non_permanent", "straight_line"): "0.10",
}  # fmt: skip
MONEY_COLUMNS = ("amount", "accumulated", "book_value")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _money() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger() if _sqlite() else sa.Numeric(18, 2)


def _rate() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger() if _sqlite() else sa.Numeric(9, 6)


def _to_units(column: str, scale: int) -> str:
    return f"CAST(ROUND({column} * {10**scale}) AS INTEGER)"


def upgrade() -> None:
    _restore_group_rates()
    _create_documents()
    if _sqlite():
        _rebuild_sqlite_tables()
    else:
        _link_postgresql_entries()
    _number_per_month()
    _create_import_rejections()


def _restore_group_rates() -> None:
    assets = sa.table(
        "assets", sa.column("tax_group"), sa.column("method"), sa.column("annual_rate")
    )
    for (group, method), rate in GROUP_RATES.items():
        op.execute(
            assets.update()
            .where(assets.c.tax_group == group, assets.c.method == method)
            .values(annual_rate=sa.literal_column(rate))
        )


def _create_documents() -> None:
    op.create_table(
        "depreciation_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("document_no", sa.String(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("posted_at", TS, nullable=False),
        sa.Column("params", JSON, nullable=True),
        sa.Column("earlier_unposted", sa.String(length=16), nullable=True),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("total_amount", _money(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reverses_id"], ["depreciation_documents.id"],
            name=op.f("fk_depreciation_documents_reverses_id_depreciation_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depreciation_documents")),
        sa.UniqueConstraint(
            "tenant_id", "document_no", name=op.f("uq_depreciation_documents_number")
        ),
        sa.CheckConstraint(
            "kind IN ('depreciation', 'reversal')", name=op.f("ck_depreciation_documents_kind")
        ),
        sa.CheckConstraint(
            "status IN ('posted', 'reversed')", name=op.f("ck_depreciation_documents_status")
        ),
    )  # fmt: skip
    op.create_index(
        "uq_depreciation_documents_posted_month",
        "depreciation_documents",
        ["tenant_id", "year", "month"],
        unique=True,
        sqlite_where=sa.text("kind = 'depreciation' AND status = 'posted'"),
        postgresql_where=sa.text("kind = 'depreciation' AND status = 'posted'"),
    )
    _backfill_documents()


def _backfill_documents() -> None:
    """One document per number already posted (a rerun used to delete the earlier one).

    Versions before this one did not keep months in order, so each tenant's
    earliest migrated document opens its books (`earlier_unposted`
    "migrated"): the months after it are checked from there on.
    """
    amount = _to_units("amount", 2) if _sqlite() else "amount"
    groups = op.get_bind().execute(
        sa.text(
            "SELECT tenant_id, document_no, year, month, MIN(run_id), MIN(created_at), "
            f"COUNT(*), SUM({amount}) FROM depreciation_entries "
            "GROUP BY tenant_id, document_no, year, month "
            "ORDER BY tenant_id, year, month, document_no"
        )
    )
    documents = sa.table(
        "depreciation_documents",
        *(sa.column(c) for c in (
            "tenant_id", "document_no", "year", "month", "kind", "status", "run_id",
            "posted_at", "entry_count", "total_amount", "earlier_unposted",
        )),
        sa.column("params", JSON),
    )  # fmt: skip
    opened: set[str] = set()
    for tenant, number, year, month, run_id, posted_at, count, total in groups:
        op.execute(documents.insert().values(
            tenant_id=tenant, document_no=number, year=year, month=month,
            kind="depreciation", status="posted", run_id=run_id, posted_at=posted_at,
            params={"year": year, "month": month}, entry_count=count, total_amount=total,
            earlier_unposted=None if tenant in opened else "migrated",
        ))  # fmt: skip
        opened.add(tenant)


def _rebuild_sqlite_tables() -> None:
    """Money as integer minor units: new tables, converted copies, old tables dropped.

    Entries go first (they reference assets), so dropping the old assets
    table cascades to nothing.
    """
    op.execute("CREATE TABLE _entries_old AS SELECT * FROM depreciation_entries")
    op.drop_table("depreciation_entries")
    _create_assets("_assets_new")
    columns = (
        "id, tenant_id, code, name, category, acquired_on, cost, salvage, life_months, "
        "method, annual_rate, tax_group, disposed_on, created_at, updated_at"
    )
    converted = columns.replace(
        "cost, salvage", f"{_to_units('cost', 2)}, {_to_units('salvage', 2)}"
    )
    converted = converted.replace("annual_rate", _to_units("annual_rate", 6))
    op.execute(f"INSERT INTO _assets_new ({columns}) SELECT {converted} FROM assets")
    op.drop_table("assets")
    op.rename_table("_assets_new", "assets")
    _create_entries()
    money = ", ".join(_to_units(f"e.{c}", 2) for c in MONEY_COLUMNS)
    op.execute(
        "INSERT INTO depreciation_entries (id, tenant_id, document_id, asset_id, year, month, "
        "amount, accumulated, book_value, document_no, run_id, created_at) "
        f"SELECT e.id, e.tenant_id, d.id, e.asset_id, e.year, e.month, {money}, "
        "e.document_no, e.run_id, e.created_at FROM _entries_old AS e "
        "JOIN depreciation_documents AS d "
        "ON d.tenant_id = e.tenant_id AND d.document_no = e.document_no"
    )
    op.drop_table("_entries_old")


def _create_assets(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("acquired_on", sa.Date(), nullable=False),
        sa.Column("cost", sa.BigInteger(), nullable=False),
        sa.Column("salvage", sa.BigInteger(), nullable=False),
        sa.Column("life_months", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("annual_rate", sa.BigInteger(), nullable=True),
        sa.Column("tax_group", sa.String(length=32), nullable=True),
        sa.Column("disposed_on", sa.Date(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_assets_tenant_code")),
        sa.CheckConstraint("cost >= 0", name=op.f("ck_assets_cost_not_negative")),
        sa.CheckConstraint(
            "salvage >= 0 AND salvage <= cost", name=op.f("ck_assets_salvage_within_cost")
        ),
        sa.CheckConstraint("life_months >= 1", name=op.f("ck_assets_life_positive")),
        sa.CheckConstraint(
            "method IN ('straight_line', 'declining_balance')", name=op.f("ck_assets_method")
        ),
        sa.CheckConstraint(
            "method <> 'declining_balance' OR "
            "(annual_rate IS NOT NULL AND annual_rate > 0 AND annual_rate <= 1000000)",
            name=op.f("ck_assets_declining_rate"),
        ),
    )


def _create_entries() -> None:
    op.create_table(
        "depreciation_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("accumulated", sa.BigInteger(), nullable=False),
        sa.Column("book_value", sa.BigInteger(), nullable=False),
        sa.Column("document_no", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_depreciation_entries_asset_id_assets")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["depreciation_documents.id"],
            name=op.f("fk_depreciation_entries_document_id_depreciation_documents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_depreciation_entries")),
        sa.UniqueConstraint("document_id", "asset_id", name=op.f("uq_depreciation_entries_line")),
    )  # fmt: skip
    _index_entries()


def _index_entries() -> None:
    op.create_index(
        "ix_depreciation_entries_period", "depreciation_entries", ["tenant_id", "year", "month"]
    )
    op.create_index("ix_depreciation_entries_asset", "depreciation_entries", ["asset_id"])


def _link_postgresql_entries() -> None:
    """Entries point to their document; an asset with entries can no longer be deleted."""
    op.add_column("depreciation_entries", sa.Column("document_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE depreciation_entries AS e SET document_id = d.id FROM depreciation_documents AS d "
        "WHERE d.tenant_id = e.tenant_id AND d.document_no = e.document_no"
    )
    op.alter_column("depreciation_entries", "document_id", nullable=False)
    op.create_foreign_key(
        "fk_depreciation_entries_document_id_depreciation_documents",
        "depreciation_entries", "depreciation_documents", ["document_id"], ["id"],
    )  # fmt: skip
    op.drop_constraint(
        "fk_depreciation_entries_asset_id_assets", "depreciation_entries", type_="foreignkey"
    )
    op.create_foreign_key(
        "fk_depreciation_entries_asset_id_assets",
        "depreciation_entries", "assets", ["asset_id"], ["id"],
    )  # fmt: skip
    op.drop_constraint("uq_depreciation_entries_asset_month", "depreciation_entries")
    op.create_unique_constraint(
        "uq_depreciation_entries_line", "depreciation_entries", ["document_id", "asset_id"]
    )
    op.create_index("ix_depreciation_entries_asset", "depreciation_entries", ["asset_id"])


def _number_per_month() -> None:
    """`DEP/YYYY/MM` counters continue after the highest number each month already used."""
    bind = op.get_bind()
    numbers = bind.execute(
        sa.text("SELECT tenant_id, year, month, document_no FROM depreciation_documents")
    )
    last: dict[tuple[str, str], int] = {}
    for tenant, year, month, number in numbers:
        series = f"DEP/{year:04d}/{month:02d}"
        tail = number.rsplit("/", 1)[-1]
        value = int(tail) if tail.isdigit() else 0
        last[(tenant, series)] = max(last.get((tenant, series), 0), value)
    op.execute("DELETE FROM document_sequences WHERE series = 'DEP'")
    sequences = sa.table(
        "document_sequences", sa.column("tenant_id"), sa.column("series"), sa.column("last_value")
    )
    for (tenant, series), value in last.items():
        op.execute(sequences.insert().values(tenant_id=tenant, series=series, last_value=value))


def _create_import_rejections() -> None:
    op.create_table(
        "import_rejections",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "line", name=op.f("pk_import_rejections")),
    )


def downgrade() -> None:
    raise NotImplementedError(
        "0004 keeps every posted document and converts money exactly; going back would "
        "lose reversals and numbering. Restore a backup taken before the upgrade instead."
    )
