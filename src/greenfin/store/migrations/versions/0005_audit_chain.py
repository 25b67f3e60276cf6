"""hash-chained audit log: each record carries the hash of the one before it

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(
            sa.Column(
                "prev_hash",
                sa.String(length=64),
                nullable=True,
                comment="hash of the record before it (hash chain)",
            )
        )
        batch.add_column(
            sa.Column(
                "hash",
                sa.String(length=64),
                nullable=True,
                comment="SHA-256 of this record's content and prev_hash",
            )
        )
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False, comment="always 1: the chain's head"),
        sa.Column("last_id", sa.Integer(), nullable=True, comment="id of the newest audit record"),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False, comment="records in the chain"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    # Chain the records written before this migration, in id order.
    from greenfin.service.audit import chain_existing

    chain_existing(op.get_bind())


def downgrade() -> None:
    op.drop_table("audit_chain")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
