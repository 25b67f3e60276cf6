"""green identification: label runs, loan labels, officers' decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column(
            "versions", sa.JSON(), nullable=False, comment="{catalogue: rules version} used by the run"
        ),
        sa.Column("loans", sa.Integer(), nullable=False),
        sa.Column("green", sa.Integer(), nullable=False),
        sa.Column("not_green", sa.Integer(), nullable=False),
        sa.Column("needs_review", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_runs")),
    )
    op.create_table(
        "loan_labels",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, comment="green, not_green or needs_review"),
        sa.Column("catalogue", sa.String(length=16), nullable=False),
        sa.Column("rules_version", sa.String(length=32), nullable=False),
        sa.Column("item_code", sa.String(length=16), nullable=True),
        sa.Column("level1_code", sa.String(length=8), nullable=True),
        sa.Column("confidence", sa.Numeric(precision=5, scale=3), nullable=False),
        sa.Column("cerf_area", sa.String(length=64), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.loan_id"], name=op.f("fk_loan_labels_loan_id_loans")),
        sa.ForeignKeyConstraint(["run_id"], ["label_runs.id"], name=op.f("fk_loan_labels_run_id_label_runs")),
        sa.PrimaryKeyConstraint("run_id", "loan_id", name=op.f("pk_loan_labels")),
    )
    op.create_index("ix_loan_labels_loan_id", "loan_labels", ["loan_id"], unique=False)
    op.create_table(
        "label_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False, comment="confirm or override"),
        sa.Column("status", sa.String(length=16), nullable=False, comment="the label the officer settles on"),
        sa.Column("catalogue", sa.String(length=16), nullable=False),
        sa.Column("item_code", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True, comment="the engine's run the officer saw"),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.loan_id"], name=op.f("fk_label_decisions_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["label_runs.id"], name=op.f("fk_label_decisions_run_id_label_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_label_decisions")),
    )
    op.create_index("ix_label_decisions_loan_id", "label_decisions", ["loan_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_label_decisions_loan_id", table_name="label_decisions")
    op.drop_table("label_decisions")
    op.drop_index("ix_loan_labels_loan_id", table_name="loan_labels")
    op.drop_table("loan_labels")
    op.drop_table("label_runs")
