"""Maker-checker: a change proposed by one user takes effect only when another approves it.

A proposal is stored with its payload; the checker's approval runs the change as one transaction
with both names in the audit log.  The checker is never the maker, and holds the permission that
approves the proposal's kind (``permissions.APPROVER``): the service refuses both, so the API and
the pages cannot disagree on who may decide.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from greenfin.service import audit, collateral, identification
from greenfin.service.permissions import APPROVER
from greenfin.store.schema import cerf_batches, loans, pending_actions, pledges

KINDS = {
    "label_override": "改判绿色识别结果",
    "pledge_register": "质押登记",
    "pledge_release": "解押",
    "cerf_submit": "报送碳减排支持工具批次",
}


class ApprovalProblem(ValueError):
    """A proposal or decision that cannot be taken; nothing was changed.

    ``status`` is the HTTP status the API and the pages answer with (a conflict, unless a subclass
    says otherwise), so the two cannot map the same refusal differently.
    """

    status = 409


class NoSuchProposal(ApprovalProblem):
    """The proposal does not exist."""

    status = 404


class NotPermitted(ApprovalProblem):
    """The checker lacks the permission that approves this kind of proposal."""

    status = 403

    def __init__(self, permission: str) -> None:
        super().__init__(f"无权限 {permission} / missing permission {permission}")
        self.permission = permission


def decidable_kinds(permissions: frozenset[str]) -> frozenset[str]:
    """The kinds of proposal a holder of ``permissions`` may approve or reject."""
    return frozenset(kind for kind, needed in APPROVER.items() if needed in permissions)


def propose(engine: Engine, kind: str, entity_id: str, payload: dict[str, Any], *, maker: str) -> int:
    if kind not in KINDS:
        raise ApprovalProblem(f"未知的待复核操作 {kind!r}")
    if kind == "label_override":
        if not str(payload.get("reason") or "").strip():
            raise ApprovalProblem("改判须写明理由 / a reason is required")
        if not payload.get("not_green") and not payload.get("item_code"):
            raise ApprovalProblem("改判须给出目录条目或改为非绿色 / give an item or not_green")
    if (
        kind in ("pledge_register", "pledge_release")
        and not str(payload.get("reference" if kind == "pledge_register" else "reason") or "").strip()
    ):
        raise ApprovalProblem("须写明登记编号或解押理由 / a registry reference or reason is required")
    with engine.begin() as connection:
        table, column, what = {
            "label_override": (loans, loans.c.loan_id, "贷款"),
            "pledge_register": (pledges, pledges.c.pledge_id, "质押"),
            "pledge_release": (pledges, pledges.c.pledge_id, "质押"),
            "cerf_submit": (cerf_batches, cerf_batches.c.id, "批次"),
        }[kind]
        key: Any = int(entity_id) if kind == "cerf_submit" and entity_id.isdigit() else entity_id
        if kind == "cerf_submit" and not isinstance(key, int):
            raise ApprovalProblem(f"批次编号应为数字：{entity_id!r}")
        if connection.execute(select(column).select_from(table).where(column == key)).first() is None:
            raise ApprovalProblem(f"{what} {entity_id} 不存在 / not found")
        action_id = connection.execute(
            insert(pending_actions).values(
                kind=kind, entity_id=entity_id, payload=audit.jsonable(payload), maker=maker, made_at=audit.now(),
                status="pending",
            ).returning(pending_actions.c.id)
        ).scalar_one()  # fmt: skip
        audit.record(connection, actor=maker, action="propose", entity=kind, entity_id=entity_id,
                     detail={"pending_action": action_id, **audit.jsonable(payload)})  # fmt: skip
    return int(action_id)


def pending(engine: Engine, status: str = "pending") -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(row)
            for row in connection.execute(
                select(pending_actions)
                .where(pending_actions.c.status == status)
                .order_by(pending_actions.c.id)
            ).mappings()
        ]


def _load(engine: Engine, action_id: int, permissions: frozenset[str]) -> dict[str, Any]:
    """The pending proposal, once the checker is known to be allowed to decide it."""
    with engine.connect() as connection:
        row = (
            connection.execute(select(pending_actions).where(pending_actions.c.id == action_id))
            .mappings()
            .first()
        )
    if row is None:
        raise NoSuchProposal(f"待复核操作 {action_id} 不存在 / no such proposal")
    if row["kind"] not in decidable_kinds(permissions):
        raise NotPermitted(APPROVER[row["kind"]])
    if row["status"] != "pending":
        raise ApprovalProblem(f"待复核操作 {action_id} 已{'批准' if row['status'] == 'approved' else '退回'}")
    return dict(row)


def _decide(connection: Connection, action_id: int, status: str, checker: str, note: str) -> None:
    """Mark a proposal approved or rejected only while it is still pending, so that of two checkers
    deciding at once exactly one wins and the other is told."""
    decided = connection.execute(
        update(pending_actions)
        .where(pending_actions.c.id == action_id, pending_actions.c.status == "pending")
        .values(status=status, checker=checker, checked_at=audit.now(), note=note)
    ).rowcount
    if decided != 1:
        raise ApprovalProblem(f"待复核操作 {action_id} 已被他人处理 / already decided by another checker")


def approve(
    engine: Engine, action_id: int, *, checker: str, permissions: frozenset[str], note: str = ""
) -> dict[str, Any]:
    """Carry out a proposal as its checker (never its maker)."""
    action = _load(engine, action_id, permissions)
    if action["maker"] == checker:
        raise ApprovalProblem("复核人不能是提出人 / the checker cannot be the maker")
    with engine.begin() as connection:  # claim it first: of two checkers racing, one wins
        _decide(connection, action_id, "approved", checker, note)
    try:
        result = _carry_out(engine, action, checker)
    except Exception:
        with engine.begin() as connection:  # the change failed: the proposal waits again
            connection.execute(  # only the claim made above, never a later decision
                update(pending_actions).where(
                    pending_actions.c.id == action_id, pending_actions.c.status == "approved",
                    pending_actions.c.checker == checker,
                ).values(status="pending", checker=None, checked_at=None, note=None)
            )  # fmt: skip
        raise
    with engine.begin() as connection:
        audit.record(connection, actor=checker, action="approve", entity=action["kind"], entity_id=action["entity_id"],
                     detail={"pending_action": action_id, "maker": action["maker"], "note": note})  # fmt: skip
    return result


def _carry_out(engine: Engine, action: dict[str, Any], checker: str) -> dict[str, Any]:
    """Run the proposed change as the checker, naming the maker in its record."""
    payload, kind, entity = action["payload"], action["kind"], action["entity_id"]
    signed = f"（提出：{action['maker']}，复核：{checker}）"
    if kind == "label_override":
        return identification.decide(
            engine, entity, action="override", reason=f"{payload['reason']}{signed}", actor=checker,
            item_code=payload.get("item_code"), not_green=bool(payload.get("not_green")),
        )  # fmt: skip
    if kind == "pledge_register":
        collateral.register_pledge(engine, entity, payload["reference"], actor=checker)
        return {"pledge_id": entity, "state": "registered"}
    if kind == "pledge_release":
        collateral.release(engine, entity, reason=f"{payload['reason']}{signed}", actor=checker)
        return {"pledge_id": entity, "state": "released"}
    with engine.begin() as connection:  # cerf_submit: the batch revision is submitted as it stands
        audit.record(connection, actor=checker, action="submit", entity="cerf_batch", entity_id=entity,
                     detail={"maker": action["maker"]})  # fmt: skip
    return {"batch_id": int(entity), "submitted": True}


def submitted(engine: Engine, batch_id: int) -> bool:
    """Whether a CERF batch revision was submitted (its submission approved)."""
    with engine.connect() as connection:
        return connection.execute(
            select(pending_actions.c.id).where(
                pending_actions.c.kind == "cerf_submit", pending_actions.c.entity_id == str(batch_id),
                pending_actions.c.status == "approved",
            )
        ).first() is not None  # fmt: skip


def reject(engine: Engine, action_id: int, *, checker: str, permissions: frozenset[str], note: str) -> None:
    """Turn a proposal down as its checker (never its maker).

    Only a proposal still pending is rejected: another checker may have decided it since it was
    read, and an unguarded update would overwrite that approval (its change already made) with a
    rejection.  Such a race is refused as a conflict and changes nothing.
    """
    action = _load(engine, action_id, permissions)
    if action["maker"] == checker:
        raise ApprovalProblem("复核人不能是提出人 / the checker cannot be the maker")
    with engine.begin() as connection:
        _decide(connection, action_id, "rejected", checker, note)
        audit.record(connection, actor=checker, action="reject", entity=action["kind"], entity_id=action["entity_id"],
                     detail={"pending_action": action_id, "maker": action["maker"], "note": note})  # fmt: skip
