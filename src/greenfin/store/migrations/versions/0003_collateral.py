"""environmental-rights collateral: users, holdings, pledge lifecycle, valuation runs, alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

QUANTITY = sa.Numeric(precision=24, scale=6)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False, comment="argon2id"),
        sa.Column("roles", sa.JSON(), nullable=False, comment="list of role names"),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
    )
    op.create_table(
        "holdings",
        sa.Column("holding_id", sa.String(length=64), nullable=False),
        sa.Column("holder_credit_code", sa.String(length=18), nullable=False),
        sa.Column("instrument", sa.String(length=16), nullable=False),
        sa.Column("price_series", sa.String(length=32), nullable=False),
        sa.Column("vintage", sa.Integer(), nullable=True),
        sa.Column("registry_account", sa.String(length=100), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("pledged", QUANTITY, nullable=False, comment="sum of the live pledges drawing on it"),
        sa.CheckConstraint(
            "pledged >= 0 AND pledged <= quantity", name=op.f("ck_holdings_pledged_within_holding")
        ),
        sa.ForeignKeyConstraint(
            ["holder_credit_code"],
            ["borrowers.credit_code"],
            name=op.f("fk_holdings_holder_credit_code_borrowers"),
        ),
        sa.PrimaryKeyConstraint("holding_id", name=op.f("pk_holdings")),
    )
    with op.batch_alter_table("pledges") as batch:
        batch.add_column(
            sa.Column(
                "holding_id", sa.String(length=64), nullable=True, comment="the registry holding it draws on"
            )
        )
        batch.add_column(
            sa.Column(
                "price_series",
                sa.String(length=32),
                nullable=True,
                comment="the price series that values it (prices.instrument)",
            )
        )
        batch.create_foreign_key(
            op.f("fk_pledges_holding_id_holdings"), "holdings", ["holding_id"], ["holding_id"]
        )
    # The lifecycle's states replace the old "pledged" (the same thing: registered with the registry).
    op.execute("UPDATE pledges SET state = 'registered' WHERE state = 'pledged'")
    op.create_table(
        "pledge_loans",
        sa.Column("pledge_id", sa.String(length=64), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.loan_id"], name=op.f("fk_pledge_loans_loan_id_loans")),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.pledge_id"], name=op.f("fk_pledge_loans_pledge_id_pledges")
        ),
        sa.PrimaryKeyConstraint("pledge_id", "loan_id", name=op.f("pk_pledge_loans")),
    )
    op.create_table(
        "pledge_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pledge_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("quantity_change", QUANTITY, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.pledge_id"], name=op.f("fk_pledge_events_pledge_id_pledges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pledge_events")),
    )
    op.create_index("ix_pledge_events_pledge_id", "pledge_events", ["pledge_id"], unique=False)
    op.create_table(
        "valuation_policies",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_valuation_policies")),
    )
    op.create_table(
        "revaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pledges", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("liquidations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revaluations")),
    )
    op.create_table(
        "pledge_valuations",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.String(length=64), nullable=False),
        sa.Column("price_day", sa.Date(), nullable=False),
        sa.Column("reference_price_yuan", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("haircut", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("pledge_rate", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("market_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("collateral_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("outstanding_fen", sa.BigInteger(), nullable=False),
        sa.Column("coverage", sa.Numeric(precision=14, scale=6), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False, comment="normal, warning or liquidation"),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.pledge_id"], name=op.f("fk_pledge_valuations_pledge_id_pledges")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["revaluations.id"], name=op.f("fk_pledge_valuations_run_id_revaluations")
        ),
        sa.PrimaryKeyConstraint("run_id", "pledge_id", name=op.f("pk_pledge_valuations")),
    )
    op.create_table(
        "collateral_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False, comment="warning, liquidation or recovered"),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.pledge_id"], name=op.f("fk_collateral_alerts_pledge_id_pledges")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["revaluations.id"], name=op.f("fk_collateral_alerts_run_id_revaluations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_alerts")),
    )


def downgrade() -> None:
    op.drop_table("collateral_alerts")
    op.drop_table("pledge_valuations")
    op.drop_table("revaluations")
    op.drop_table("valuation_policies")
    op.drop_index("ix_pledge_events_pledge_id", table_name="pledge_events")
    op.drop_table("pledge_events")
    op.drop_table("pledge_loans")
    op.execute("UPDATE pledges SET state = 'pledged' WHERE state = 'registered'")
    with op.batch_alter_table("pledges") as batch:
        batch.drop_constraint(op.f("fk_pledges_holding_id_holdings"), type_="foreignkey")
        batch.drop_column("price_series")
        batch.drop_column("holding_id")
    op.drop_table("holdings")
    op.drop_table("users")
