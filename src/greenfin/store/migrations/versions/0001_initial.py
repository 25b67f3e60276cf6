"""initial loan book, audit and import batches

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False, comment="[{name, sha256, rows}]"),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    op.create_table(
        "prices",
        sa.Column("instrument", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("open_yuan", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("high_yuan", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("low_yuan", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("close_yuan", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("volume", sa.Numeric(precision=20, scale=2), nullable=True),
        sa.PrimaryKeyConstraint("instrument", "day", name=op.f("pk_prices")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column(
            "action",
            sa.String(length=40),
            nullable=False,
            comment="import, create, update, ...",
        ),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("source_file", sa.String(length=500), nullable=True),
        sa.Column("source_sha256", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["import_batches.id"],
            name=op.f("fk_audit_log_batch_id_import_batches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_entity_id", ["entity", "entity_id"], unique=False)

    op.create_table(
        "borrowers",
        sa.Column(
            "credit_code",
            sa.String(length=18),
            nullable=False,
            comment="统一社会信用代码",
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "industry_code",
            sa.String(length=5),
            nullable=False,
            comment="GB/T 4754-2017",
        ),
        sa.Column("region_code", sa.String(length=6), nullable=False, comment="GB/T 2260"),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("grid_region", sa.String(length=8), nullable=False),
        sa.Column("size_class", sa.String(length=4), nullable=True),
        sa.Column("revenue_fen", sa.BigInteger(), nullable=True),
        sa.Column("total_assets_fen", sa.BigInteger(), nullable=True),
        sa.Column("equity_fen", sa.BigInteger(), nullable=True),
        sa.Column("debt_fen", sa.BigInteger(), nullable=True),
        sa.Column("evic_fen", sa.BigInteger(), nullable=True),
        sa.Column("scope1_tco2e", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("scope2_tco2e", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("emissions_quality", sa.String(length=16), nullable=True),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("created_batch", sa.Integer(), nullable=True),
        sa.Column("updated_batch", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_batch"],
            ["import_batches.id"],
            name=op.f("fk_borrowers_created_batch_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_batch"],
            ["import_batches.id"],
            name=op.f("fk_borrowers_updated_batch_import_batches"),
        ),
        sa.PrimaryKeyConstraint("credit_code", name=op.f("pk_borrowers")),
    )
    op.create_table(
        "projects",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("project_type", sa.String(length=100), nullable=True),
        sa.Column("capacity_mw", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("annual_generation_mwh", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("total_investment_fen", sa.BigInteger(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("completion_date", sa.Date(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("created_batch", sa.Integer(), nullable=True),
        sa.Column("updated_batch", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_batch"],
            ["import_batches.id"],
            name=op.f("fk_projects_created_batch_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_batch"],
            ["import_batches.id"],
            name=op.f("fk_projects_updated_batch_import_batches"),
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_projects")),
    )
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("borrower_credit_code", sa.String(length=18), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate_pct", sa.Numeric(precision=9, scale=4), nullable=True),
        sa.Column("approval_date", sa.Date(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("maturity_date", sa.Date(), nullable=False),
        sa.Column("five_tier", sa.String(length=4), nullable=True),
        sa.Column("bank_green_flag", sa.Boolean(), nullable=True),
        sa.Column("bank_green_category", sa.String(length=64), nullable=True),
        sa.Column("row_hash", sa.String(length=32), nullable=False),
        sa.Column("created_batch", sa.Integer(), nullable=True),
        sa.Column("updated_batch", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["borrower_credit_code"],
            ["borrowers.credit_code"],
            name=op.f("fk_loans_borrower_credit_code_borrowers"),
        ),
        sa.ForeignKeyConstraint(
            ["created_batch"],
            ["import_batches.id"],
            name=op.f("fk_loans_created_batch_import_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.project_id"],
            name=op.f("fk_loans_project_id_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["updated_batch"],
            ["import_batches.id"],
            name=op.f("fk_loans_updated_batch_import_batches"),
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loans")),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index("ix_loans_borrower_credit_code", ["borrower_credit_code"], unique=False)
        batch_op.create_index("ix_loans_project_id", ["project_id"], unique=False)

    op.create_table(
        "pledges",
        sa.Column("pledge_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("instrument", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=24, scale=6), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=True),
        sa.Column("registry_reference", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("pledged_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.loan_id"], name=op.f("fk_pledges_loan_id_loans")),
        sa.PrimaryKeyConstraint("pledge_id", name=op.f("pk_pledges")),
    )
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.create_index("ix_pledges_loan_id", ["loan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pledges", schema=None) as batch_op:
        batch_op.drop_index("ix_pledges_loan_id")

    op.drop_table("pledges")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_project_id")
        batch_op.drop_index("ix_loans_borrower_credit_code")

    op.drop_table("loans")
    op.drop_table("projects")
    op.drop_table("borrowers")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_entity_id")

    op.drop_table("audit_log")
    op.drop_table("prices")
    op.drop_table("import_batches")
