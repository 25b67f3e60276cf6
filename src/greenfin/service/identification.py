"""Labelling the stored book, and the officer's confirmations and overrides, audited.

A run labels every loan with the engine and stores each label with the catalogue and rules
version that produced it, so a past answer can be reproduced.  An officer's decision (confirm the
engine's label, or override it with another item or "not green", always with a reason) is kept
apart from the runs: it survives every re-run and is shown beside the engine's latest answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, func, insert, select, update

from greenfin.model.problems import ValueProblem
from greenfin.reference.catalogues import catalogue
from greenfin.service import audit
from greenfin.store.schema import borrowers, label_decisions, label_runs, loan_labels, loans, projects
from greenfin.taxonomy.engine import Label, Subject, catalogue_version_for, classify_many
from greenfin.taxonomy.rules import rule_set

CHUNK = 20_000
Progress = Callable[[int, int], None]  # loans done, loans in all


@dataclass(frozen=True)
class RunSummary:
    """What a labelling run found."""

    run_id: int
    loans: int
    green: int
    not_green: int
    needs_review: int


def subject_text(purpose: str | None, name: str | None, description: str | None, kind: str | None) -> str:
    """The text a loan is judged on: its purpose and its project's name, type and description."""
    return "；".join(part for part in (purpose, name, kind, description) if part)


def _subjects(connection: Connection) -> Iterator[list[tuple[str, Subject]]]:
    query = (
        select(
            loans.c.loan_id, loans.c.purpose, loans.c.approval_date, borrowers.c.industry_code,
            projects.c.name, projects.c.description, projects.c.project_type, projects.c.parameters,
        )
        .select_from(loans.join(borrowers).outerjoin(projects))
        .order_by(loans.c.loan_id)
    )  # fmt: skip
    chunk: list[tuple[str, Subject]] = []
    for row in connection.execute(query):
        parameters = (
            row.parameters if isinstance(row.parameters, dict) else json.loads(row.parameters or "{}")
        )
        text = subject_text(row.purpose, row.name, row.description, row.project_type)
        chunk.append((row.loan_id, Subject(text, row.industry_code, row.approval_date, parameters or {})))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def label_book(engine: Engine, *, actor: str | None = None, progress: Progress | None = None) -> RunSummary:
    """Label every loan in the store, in one transaction, as a new run."""
    who = audit.current_actor(actor)
    started = audit.now()
    versions = {version: rule_set(version).rules_version for version in ("gbc-2021", "gfc-2025")}
    counts = {"green": 0, "not_green": 0, "needs_review": 0}
    with engine.begin() as connection:
        total = connection.execute(select(func.count()).select_from(loans)).scalar_one()
        run_id = connection.execute(
            insert(label_runs).returning(label_runs.c.id),
            {"started_at": started, "finished_at": started, "actor": who, "versions": versions,
             "loans": 0, "green": 0, "not_green": 0, "needs_review": 0},
        ).scalar_one()  # fmt: skip
        done = 0
        with engine.connect() as reader:
            for chunk in _subjects(reader):
                labels = classify_many(subject for _id, subject in chunk)
                rows = []
                for (loan_id, _subject), label in zip(chunk, labels, strict=True):
                    counts[label.status] += 1
                    rows.append(_stored(run_id, loan_id, label))
                connection.execute(insert(loan_labels), rows)
                done += len(chunk)
                if progress:
                    progress(done, total)
        connection.execute(
            update(label_runs).where(label_runs.c.id == run_id).values(
                finished_at=audit.now(), loans=done, **counts
            )
        )  # fmt: skip
        audit.record(
            connection, actor=who, action="label_run", entity="label_run", entity_id=str(run_id),
            detail={"versions": versions, "loans": done, **counts},
        )  # fmt: skip
    return RunSummary(run_id, done, counts["green"], counts["not_green"], counts["needs_review"])


def _stored(run_id: int, loan_id: str, label: Label) -> dict[str, Any]:
    item = label.item
    return {
        "run_id": run_id,
        "loan_id": loan_id,
        "status": label.status,
        "catalogue": label.catalogue,
        "rules_version": label.rules_version,
        "item_code": item.code if item else None,
        "level1_code": item.level1_code if item else None,
        "confidence": Decimal(str(round(label.confidence, 3))),
        "cerf_area": label.cerf_area_id,
        "evidence": label.as_dict(),
    }


@dataclass(frozen=True)
class ExpectedLabel:
    """The engine label an officer was shown when deciding to confirm it.

    Each part left ``None`` is not compared (an API client may name only some); ``item_code`` ""
    means "no item", as a not-green label has none (an HTML form cannot post ``None``).
    """

    run_id: int | None = None
    status: str | None = None
    item_code: str | None = None

    def matches(self, latest: dict[str, Any]) -> bool:
        """Whether the latest stored label is still the one shown."""
        if self.run_id is not None and self.run_id != latest["run_id"]:
            return False
        if self.status is not None and self.status != latest["status"]:
            return False
        return self.item_code is None or (self.item_code or None) == latest["item_code"]


class LabelChanged(Exception):
    """A confirmation named a label that is no longer the engine's latest (409 on the page and the API).

    ``str()`` is ``中文 / English``, as the other refusals the API passes on.
    """

    def __init__(self, loan_id: str) -> None:
        self.zh = f"贷款 {loan_id} 的系统识别结果已更新（重新识别），请刷新页面核对后再确认"
        self.en = f"the label of loan {loan_id} changed (labelling ran again); reload it and check before confirming"
        super().__init__(f"{self.zh} / {self.en}")


def decide(
    engine: Engine,
    loan_id: str,
    *,
    action: str,
    reason: str,
    actor: str | None = None,
    item_code: str | None = None,
    not_green: bool = False,
    expected: ExpectedLabel | None = None,
) -> dict[str, Any]:
    """Record an officer's confirmation or override of a loan's label; return the decision.

    Confirming takes the engine's latest label as it is.  Overriding names another item of the
    catalogue in force on the loan's approval date, or "not green".  A reason is required.

    A confirmation given ``expected`` (the run, status and item the officer was shown) is refused
    with :class:`LabelChanged` when the latest label is no longer that one: labelling may have run
    again between the page loading and the click, and a confirmation must approve only what a
    person has seen.  The comparison is made in the decision's own transaction.
    """
    who = audit.current_actor(actor)
    if not reason.strip():
        raise ValueProblem("a reason is required", "必须填写理由")
    if action not in ("confirm", "override"):
        raise ValueProblem(f"unknown action {action!r}", f"未知操作 {action!r}")
    with engine.begin() as connection:
        loan = connection.execute(select(loans.c.approval_date).where(loans.c.loan_id == loan_id)).first()
        if loan is None:
            raise ValueProblem(f"no loan {loan_id!r} in the store", f"库中没有贷款 {loan_id!r}")
        latest = _latest_label(connection, loan_id)
        version, _note = catalogue_version_for(loan.approval_date)
        if action == "confirm":
            if latest is None:
                raise ValueProblem(
                    "the loan has no engine label yet: run the labelling first",
                    "该贷款尚无系统识别结果，请先运行识别",
                )
            if expected is not None and not expected.matches(latest):
                raise LabelChanged(loan_id)
            status, code, version = latest["status"], latest["item_code"], latest["catalogue"]
            if status == "needs_review":
                raise ValueProblem(
                    "a label that needs review cannot be confirmed as it is: override it with an item or not green",
                    "需人工复核的结果不能直接确认，请改判为具体条目或非绿色",
                )
        elif not_green:
            status, code = "not_green", None
        else:
            if not item_code:
                raise ValueProblem("an override names an item or 'not green'", "改判须指定条目或“非绿色”")
            book = catalogue(version)
            if item_code not in book or book.children(item_code):
                raise ValueProblem(
                    f"{item_code} is not a leaf item of {version}, the catalogue in force on the approval date",
                    f"{item_code} 不是审批日适用目录 {version} 的末级条目",
                )
            status, code = "green", item_code
        decision = {
            "loan_id": loan_id, "action": action, "status": status, "catalogue": version, "item_code": code,
            "reason": reason.strip(), "actor": who, "at": audit.now(),
            "run_id": latest["run_id"] if latest else None,
        }  # fmt: skip
        connection.execute(insert(label_decisions), decision)
        audit.record(
            connection, actor=who, action=f"label_{action}", entity="loan", entity_id=loan_id,
            detail={"engine": None if latest is None else {k: latest[k] for k in ("status", "item_code", "run_id")},
                    "decision": {"status": status, "item_code": code, "catalogue": version}, "reason": reason.strip()},
        )  # fmt: skip
    return decision


def _latest(connection: Connection, table: Table, order: str, loan_id: str) -> dict[str, Any] | None:
    """The newest row of a per-loan table (labels by run, decisions by id)."""
    query = select(table).where(table.c.loan_id == loan_id).order_by(table.c[order].desc()).limit(1)
    row = connection.execute(query).mappings().first()
    return None if row is None else dict(row)


def _latest_label(connection: Connection, loan_id: str) -> dict[str, Any] | None:
    return _latest(connection, loan_labels, "run_id", loan_id)


def loan_label(engine: Engine, loan_id: str) -> dict[str, Any]:
    """The engine's latest label of a loan and the officer's latest decision, side by side."""
    with engine.connect() as connection:
        return {
            "engine": _latest_label(connection, loan_id),
            "decision": _latest(connection, label_decisions, "id", loan_id),
        }


#: An engine label below this confidence goes to the review queue even when it says green or not green
#: (a sound-alike reading keeps 0.8 of its confidence; a winner close to its rival scores below 0.6).
REVIEW_CONFIDENCE = Decimal("0.8")
#: Why a loan is in the review queue, in the order the queue shows them.
REVIEW_KINDS = ("needs_review", "low_confidence", "unconfirmed_green")


def review_queue(
    engine: Engine, *, kind: str = "", page: int = 1, size: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """The loans whose label waits for a person, a page of them, and how many there are.

    A loan is in the queue when nobody has decided on it yet (a confirmation or an approved
    override settles it for good: decisions survive re-runs) and the engine's latest label either
    says ``needs_review`` (mixed use, a close rival, missing data, a text too short), or is less
    sure than :data:`REVIEW_CONFIDENCE`, or says green: a green label counts in the statistics and
    the CERF batch, so a person confirms it.  ``kind`` keeps one of :data:`REVIEW_KINDS`.  Each row
    carries the stored label with its evidence and ``kind``, the reason it is queued.
    """
    latest = select(func.max(loan_labels.c.run_id)).scalar_subquery()
    decided = select(label_decisions.c.loan_id).where(label_decisions.c.loan_id == loan_labels.c.loan_id)
    why = case(
        (loan_labels.c.status == "needs_review", "needs_review"),
        (loan_labels.c.confidence < REVIEW_CONFIDENCE, "low_confidence"),
        (loan_labels.c.status == "green", "unconfirmed_green"),
        else_=None,
    )
    rank = case(
        (loan_labels.c.status == "needs_review", 0),
        (loan_labels.c.confidence < REVIEW_CONFIDENCE, 1),
        else_=2,
    )
    query = (
        select(
            loan_labels, why.label("kind"), loans.c.purpose, loans.c.balance_fen, loans.c.currency,
            borrowers.c.name.label("borrower_name"),
        )
        .select_from(loan_labels.join(loans).join(borrowers))
        .where(loan_labels.c.run_id == latest, ~decided.exists(), why.is_not(None))
    )  # fmt: skip
    if kind in REVIEW_KINDS:
        query = query.where(why == kind)
    with engine.connect() as connection:
        total = int(connection.execute(select(func.count()).select_from(query.subquery())).scalar_one())
        rows = connection.execute(
            query.order_by(rank, loan_labels.c.loan_id).limit(size).offset((page - 1) * size)
        ).mappings()
        found = [dict(row) for row in rows]
    for row in found:
        if isinstance(row["evidence"], str):  # a JSON column read back as text on some drivers
            row["evidence"] = json.loads(row["evidence"])
    return found, total
