"""Editing one loan by hand (the API's PATCH), with optimistic locking and an audit record.

The loan's version is its ``row_hash`` (the import's content digest).  An edit names the version
it was made on; if the stored row changed since, the edit is refused and nothing is written.  The
new version marks the row as edited, so re-importing the bank's file later compares unequal and
restores (and records) the file's values: the bank's system stays the source of truth.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine, select, update

from greenfin.model.problems import ValueProblem
from greenfin.model.values import check_loan_consistency, parse_five_tier, parse_money_fen
from greenfin.service import audit
from greenfin.store.schema import loans

EDITABLE = ("purpose", "five_tier", "balance")


class StaleVersion(Exception):
    """The loan changed after the version the edit was made on."""


class LoanNotFound(LookupError):
    pass


def update_loan(engine: Engine, loan_id: str, changes: dict[str, Any], *, expected: str, actor: str) -> str:
    """Apply ``changes`` (purpose, five_tier, balance with its unit) if the loan is still at ``expected``."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise ValueProblem(f"fields not editable: {unknown}", f"不可修改的字段：{unknown}")
    with engine.begin() as connection:
        row = connection.execute(select(loans).where(loans.c.loan_id == loan_id)).mappings().first()
        if row is None:
            raise LoanNotFound(loan_id)
        if row["row_hash"] != expected:
            raise StaleVersion(row["row_hash"])
        values: dict[str, Any] = {}
        if "purpose" in changes:
            text = str(changes["purpose"] or "").strip()
            if len(text) > 2000:
                raise ValueProblem("purpose longer than 2000 characters", "贷款用途超过 2000 字")
            values["purpose"] = text or None
        if "five_tier" in changes:
            values["five_tier"] = str(parse_five_tier(changes["five_tier"]))
        if "balance" in changes:
            values["balance_fen"] = parse_money_fen(str(changes["balance"]), None)
        check_loan_consistency(
            row["amount_fen"], values.get("balance_fen", row["balance_fen"]), row["approval_date"],
            row["start_date"], row["maturity_date"],
        )  # fmt: skip
        before = {k: row[k] for k in values}
        content = json.dumps(
            {**{k: str(v) for k, v in row.items()}, **{k: str(v) for k, v in values.items()}}, sort_keys=True
        )
        version = hashlib.blake2b(content.encode(), digest_size=16).hexdigest()
        connection.execute(update(loans).where(loans.c.loan_id == loan_id).values(**values, row_hash=version))
        audit.record(
            connection, actor=actor, action="update", entity="loan", entity_id=loan_id,
            detail={"before": audit.jsonable({k: v for k, v in before.items()}),
                    "after": audit.jsonable(values), "version": version, "via": "api"},
        )  # fmt: skip
    return version
