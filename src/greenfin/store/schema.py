"""The tables of greenfin's store, for SQLite and PostgreSQL alike.

Money is stored as integer 分 (``*_fen``, BigInteger): exact on both backends and cheap to sum.
Physical quantities carry their canonical unit in the column name.  ``row_hash`` is the digest of
a row's validated content; a re-import compares digests, so an unchanged row is never rewritten.
Changes to this file go with an Alembic migration in ``store/migrations/versions``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

Quantity = Numeric(24, 6)

import_batches = Table(
    "import_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("files", JSON, nullable=False, comment="[{name, sha256, rows}]"),
    Column("rows", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
)

borrowers = Table(
    "borrowers",
    metadata,
    Column("credit_code", String(18), primary_key=True, comment="统一社会信用代码"),
    Column("name", String(200), nullable=False),
    Column("industry_code", String(5), nullable=False, comment="GB/T 4754-2017"),
    Column("region_code", String(6), nullable=False, comment="GB/T 2260"),
    Column("province_code", String(2), nullable=False),
    Column("grid_region", String(8), nullable=False),
    Column("size_class", String(4)),
    Column("revenue_fen", BigInteger),
    Column("total_assets_fen", BigInteger),
    Column("equity_fen", BigInteger),
    Column("debt_fen", BigInteger),
    Column("evic_fen", BigInteger),
    Column("scope1_tco2e", Quantity),
    Column("scope2_tco2e", Quantity),
    Column("emissions_quality", String(16)),
    Column("row_hash", String(32), nullable=False),
    Column("created_batch", Integer, ForeignKey("import_batches.id")),
    Column("updated_batch", Integer, ForeignKey("import_batches.id")),
)

projects = Table(
    "projects",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("region_code", String(6)),
    Column("project_type", String(100)),
    Column("capacity_mw", Quantity),
    Column("annual_generation_mwh", Quantity),
    Column("total_investment_fen", BigInteger),
    Column("start_date", Date),
    Column("completion_date", Date),
    Column("parameters", JSON, nullable=False),
    Column("row_hash", String(32), nullable=False),
    Column("created_batch", Integer, ForeignKey("import_batches.id")),
    Column("updated_batch", Integer, ForeignKey("import_batches.id")),
)

loans = Table(
    "loans",
    metadata,
    Column("loan_id", String(64), primary_key=True),
    Column(
        "borrower_credit_code",
        String(18),
        ForeignKey("borrowers.credit_code"),
        nullable=False,
    ),
    Column("project_id", String(64), ForeignKey("projects.project_id")),
    Column("purpose", Text),
    Column("amount_fen", BigInteger, nullable=False),
    Column("balance_fen", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("rate_pct", Numeric(9, 4)),
    Column("approval_date", Date),
    Column("start_date", Date, nullable=False),
    Column("maturity_date", Date, nullable=False),
    Column("five_tier", String(4)),
    Column("bank_green_flag", Boolean),
    Column("bank_green_category", String(64)),
    Column("row_hash", String(32), nullable=False),
    Column("created_batch", Integer, ForeignKey("import_batches.id")),
    Column("updated_batch", Integer, ForeignKey("import_batches.id")),
    Index("ix_loans_borrower_credit_code", "borrower_credit_code"),
    Index("ix_loans_project_id", "project_id"),
)

pledges = Table(
    "pledges",
    metadata,
    Column("pledge_id", String(64), primary_key=True),
    Column("loan_id", String(64), ForeignKey("loans.loan_id"), nullable=False),
    Column("instrument", String(16), nullable=False),
    Column("quantity", Quantity, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("vintage", Integer),
    Column("registry_reference", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("pledged_on", Date, nullable=False),
    Column(
        "holding_id",
        String(64),
        ForeignKey("holdings.holding_id"),
        comment="the registry holding it draws on",
    ),
    Column("price_series", String(32), comment="the price series that values it (prices.instrument)"),
    Index("ix_pledges_loan_id", "loan_id"),
)

prices = Table(
    "prices",
    metadata,
    Column("instrument", String(32), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("open_yuan", Numeric(14, 4)),
    Column("high_yuan", Numeric(14, 4)),
    Column("low_yuan", Numeric(14, 4)),
    Column("close_yuan", Numeric(14, 4), nullable=False),
    Column("volume", Numeric(20, 2)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(40), nullable=False, comment="import, create, update, ..."),
    Column("entity", String(40), nullable=False),
    Column("entity_id", String(200)),
    Column("batch_id", Integer, ForeignKey("import_batches.id")),
    Column("source_file", String(500)),
    Column("source_sha256", String(64)),
    Column("detail", JSON, nullable=False),
    Column("prev_hash", String(64), comment="hash of the record before it (hash chain)"),
    Column("hash", String(64), comment="SHA-256 of this record's content and prev_hash"),
    Column(
        "hash_scheme", String(24), comment="NULL: plain SHA-256; hmac-sha256:<key id>: keyed (migration 0007)"
    ),
    Index("ix_audit_log_entity_id", "entity", "entity_id"),
)

audit_chain = Table(
    "audit_chain",
    metadata,
    Column("id", Integer, primary_key=True, comment="always 1: the chain's head"),
    Column("last_id", Integer, comment="id of the newest audit record"),
    Column("last_hash", String(64), nullable=False),
    Column("records", BigInteger, nullable=False, comment="records in the chain"),
    Column("keyed_from", Integer, comment="id of the first keyed (HMAC) record; later ones must be keyed"),
    Column(
        "head_mac",
        String(96),
        comment="<key id>|HMAC of (last_id, last_hash, keyed_from, records); NULL: unkeyed chain",
    ),
)

label_runs = Table(
    "label_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("versions", JSON, nullable=False, comment="{catalogue: rules version} used by the run"),
    Column("loans", Integer, nullable=False),
    Column("green", Integer, nullable=False),
    Column("not_green", Integer, nullable=False),
    Column("needs_review", Integer, nullable=False),
)

loan_labels = Table(
    "loan_labels",
    metadata,
    Column("run_id", Integer, ForeignKey("label_runs.id"), primary_key=True),
    Column("loan_id", String(64), ForeignKey("loans.loan_id"), primary_key=True),
    Column("status", String(16), nullable=False, comment="green, not_green or needs_review"),
    Column("catalogue", String(16), nullable=False),
    Column("rules_version", String(32), nullable=False),
    Column("item_code", String(16)),
    Column("level1_code", String(8)),
    Column("confidence", Numeric(5, 3), nullable=False),
    Column("cerf_area", String(64)),
    Column("evidence", JSON, nullable=False),
    Index("ix_loan_labels_loan_id", "loan_id"),
)

label_decisions = Table(
    "label_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("loan_id", String(64), ForeignKey("loans.loan_id"), nullable=False),
    Column("action", String(16), nullable=False, comment="confirm or override"),
    Column("status", String(16), nullable=False, comment="the label the officer settles on"),
    Column("catalogue", String(16), nullable=False),
    Column("item_code", String(16)),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("run_id", Integer, ForeignKey("label_runs.id"), comment="the engine's run the officer saw"),
    Index("ix_label_decisions_loan_id", "loan_id"),
)

users = Table(
    "users",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False, comment="argon2id"),
    Column("roles", JSON, nullable=False, comment="list of role names"),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until", DateTime(timezone=True), comment="login refused until then"),
    Column(
        "session_epoch",
        Integer,
        nullable=False,
        server_default="0",
        comment="sessions signed with an older epoch are refused (logout, password change, deactivation)",
    ),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("address", String(64), comment="client address; NULL when unknown (command line)"),
    Column("username", String(100), nullable=False, comment="as typed: unknown names count too"),
    Index("ix_login_failures_address", "address", "at"),
    Index("ix_login_failures_username", "username", "at"),
    Index("ix_login_failures_at", "at"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column(
        "token_hash", String(64), primary_key=True, comment="SHA-256 of the token; the token is shown once"
    ),
    Column("username", String(100), ForeignKey("users.username"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked", Boolean, nullable=False),
)

pending_actions = Table(
    "pending_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False, comment="label_override, pledge_release, …"),
    Column("entity_id", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("maker", String(100), nullable=False),
    Column("made_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, comment="pending, approved, rejected"),
    Column("checker", String(100)),
    Column("checked_at", DateTime(timezone=True)),
    Column("note", Text),
    Index("ix_pending_actions_status", "status"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("username", String(100), primary_key=True),
    Column("request", String(200), nullable=False, comment="method and path"),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

holdings = Table(
    "holdings",
    metadata,
    Column("holding_id", String(64), primary_key=True),
    Column("holder_credit_code", String(18), ForeignKey("borrowers.credit_code"), nullable=False),
    Column("instrument", String(16), nullable=False),
    Column("price_series", String(32), nullable=False),
    Column("vintage", Integer),
    Column("registry_account", String(100), nullable=False),
    Column("quantity", Quantity, nullable=False),
    Column("pledged", Quantity, nullable=False, comment="sum of the live pledges drawing on it"),
    CheckConstraint("pledged >= 0 AND pledged <= quantity", name="pledged_within_holding"),
)

pledge_loans = Table(
    "pledge_loans",
    metadata,
    Column("pledge_id", String(64), ForeignKey("pledges.pledge_id"), primary_key=True),
    Column("loan_id", String(64), ForeignKey("loans.loan_id"), primary_key=True),
)

pledge_events = Table(
    "pledge_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pledge_id", String(64), ForeignKey("pledges.pledge_id"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("quantity_change", Quantity, nullable=False),
    Column("reason", Text),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_pledge_events_pledge_id", "pledge_id"),
)

valuation_policies = Table(
    "valuation_policies",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("params", JSON, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

revaluations = Table(
    "revaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("day", Date, nullable=False),
    Column("policy_name", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("pledges", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    Column("liquidations", Integer, nullable=False),
)

pledge_valuations = Table(
    "pledge_valuations",
    metadata,
    Column("run_id", Integer, ForeignKey("revaluations.id"), primary_key=True),
    Column("pledge_id", String(64), ForeignKey("pledges.pledge_id"), primary_key=True),
    Column("price_day", Date, nullable=False),
    Column("reference_price_yuan", Numeric(14, 4), nullable=False),
    Column("haircut", Numeric(9, 6), nullable=False),
    Column("pledge_rate", Numeric(9, 6), nullable=False),
    Column("market_value_fen", BigInteger, nullable=False),
    Column("collateral_value_fen", BigInteger, nullable=False),
    Column("outstanding_fen", BigInteger, nullable=False),
    Column("coverage", Numeric(14, 6)),
    Column("status", String(16), nullable=False, comment="normal, warning or liquidation"),
)

collateral_alerts = Table(
    "collateral_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("revaluations.id"), nullable=False),
    Column("pledge_id", String(64), ForeignKey("pledges.pledge_id"), nullable=False),
    Column("kind", String(16), nullable=False, comment="warning, liquidation or recovered"),
    Column("message", Text, nullable=False),
)

cerf_batches = Table(
    "cerf_batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("quarter", String(6), nullable=False, comment="2026Q3"),
    Column("revision", Integer, nullable=False, comment="1 for the first batch, then one per amendment"),
    Column("content_hash", String(64), nullable=False, comment="SHA-256 of the batch's loans and figures"),
    Column("rules", JSON, nullable=False, comment="facility share, rate, LPR tolerance, areas in force"),
    Column("loans", Integer, nullable=False),
    Column("principal_fen", BigInteger, nullable=False),
    Column("facility_fen", BigInteger, nullable=False),
    Column("co2_reduced_t", Numeric(20, 3), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("amends", Integer, ForeignKey("cerf_batches.id"), comment="the revision this one amends"),
    Index("ix_cerf_batches_quarter", "quarter"),
)

cerf_batch_loans = Table(
    "cerf_batch_loans",
    metadata,
    Column("batch_id", Integer, ForeignKey("cerf_batches.id"), primary_key=True),
    Column("loan_id", String(64), ForeignKey("loans.loan_id"), primary_key=True),
    Column("eligible", Boolean, nullable=False),
    Column("reasons", JSON, nullable=False, comment="why excluded, or the checks passed"),
    Column("principal_fen", BigInteger, nullable=False),
    Column("facility_fen", BigInteger, nullable=False),
    Column("co2_reduced_t", Numeric(20, 3)),
    Column("evidence", JSON, nullable=False, comment="label, LPR, benefit trail"),
)

report_snapshots = Table(
    "report_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False, comment="stats, disclosure"),
    Column("as_of", Date, nullable=False),
    Column(
        "figures", JSON, nullable=False, comment="the report's figures, for quarter-on-quarter comparisons"
    ),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_report_snapshots_kind", "kind", "as_of"),
)

operations_data = Table(
    "operations_data",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("item", String(64), primary_key=True, comment="electricity_mwh, water_t, paper_t, …"),
    Column("value", Numeric(20, 4), nullable=False),
    Column("unit", String(16), nullable=False),
    Column("source", Text),
    Column("actor", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

#: The loan-book tables, in an order that respects foreign keys (for snapshots and exports).
BOOK_TABLES = (borrowers, projects, loans, pledges, prices)
