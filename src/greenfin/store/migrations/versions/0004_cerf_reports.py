"""CERF batches and their loans, report snapshots, the bank's own operations data

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cerf_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("quarter", sa.String(length=6), nullable=False, comment="2026Q3"),
        sa.Column(
            "revision", sa.Integer(), nullable=False, comment="1 for the first batch, then one per amendment"
        ),
        sa.Column(
            "content_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the batch's loans and figures",
        ),
        sa.Column(
            "rules", sa.JSON(), nullable=False, comment="facility share, rate, LPR tolerance, areas in force"
        ),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("facility_fen", sa.BigInteger(), nullable=False),
        sa.Column("co2_reduced_t", sa.Numeric(precision=20, scale=3), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amends", sa.Integer(), nullable=True, comment="the revision this one amends"),
        sa.ForeignKeyConstraint(
            ["amends"], ["cerf_batches.id"], name=op.f("fk_cerf_batches_amends_cerf_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cerf_batches")),
    )
    op.create_index("ix_cerf_batches_quarter", "cerf_batches", ["quarter"], unique=False)
    op.create_table(
        "cerf_batch_loans",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("eligible", sa.Boolean(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False, comment="why excluded, or the checks passed"),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("facility_fen", sa.BigInteger(), nullable=False),
        sa.Column("co2_reduced_t", sa.Numeric(precision=20, scale=3), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False, comment="label, LPR, benefit trail"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["cerf_batches.id"], name=op.f("fk_cerf_batch_loans_batch_id_cerf_batches")
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_cerf_batch_loans_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("batch_id", "loan_id", name=op.f("pk_cerf_batch_loans")),
    )
    op.create_table(
        "report_snapshots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False, comment="stats, disclosure"),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column(
            "figures",
            sa.JSON(),
            nullable=False,
            comment="the report's figures, for quarter-on-quarter comparisons",
        ),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_snapshots")),
    )
    op.create_index("ix_report_snapshots_kind", "report_snapshots", ["kind", "as_of"], unique=False)
    op.create_table(
        "operations_data",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "item", sa.String(length=64), nullable=False, comment="electricity_mwh, water_t, paper_t, …"
        ),
        sa.Column("value", sa.Numeric(precision=20, scale=4), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year", "item", name=op.f("pk_operations_data")),
    )


def downgrade() -> None:
    op.drop_table("operations_data")
    op.drop_index("ix_report_snapshots_kind", table_name="report_snapshots")
    op.drop_table("report_snapshots")
    op.drop_table("cerf_batch_loans")
    op.drop_index("ix_cerf_batches_quarter", table_name="cerf_batches")
    op.drop_table("cerf_batches")
