"""Registering environmental-rights pledges against loans, audited."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, insert, select

from greenfin.model.entities import Pledge
from greenfin.service import audit
from greenfin.store.schema import pledges


def register_pledges(engine: Engine, items: Iterable[Pledge], *, actor: str | None = None) -> int:
    """Record pledges (validated models) in one transaction; an existing pledge id is refused."""
    who = audit.current_actor(actor)
    batch = list(items)
    if not batch:
        return 0
    with engine.begin() as connection:
        ids = [p.pledge_id for p in batch]
        taken = (
            connection.execute(select(pledges.c.pledge_id).where(pledges.c.pledge_id.in_(ids)))
            .scalars()
            .all()
        )
        if taken:
            raise ValueError(f"pledge ids already registered: {sorted(taken)[:5]}")
        connection.execute(insert(pledges), [p.model_dump(mode="python") for p in batch])
        audit.record_many(
            connection,
            [
                {
                    "actor": who,
                    "action": "create",
                    "entity": "pledge",
                    "entity_id": p.pledge_id,
                    "batch_id": None,
                    "source_file": None,
                    "source_sha256": None,
                    "detail": audit.jsonable(p.model_dump(mode="python")),
                }
                for p in batch
            ],
        )
    return len(batch)


def has_pledges(engine: Engine) -> bool:
    """Whether any pledge is registered (the demo registers its pledges once)."""
    with engine.connect() as connection:
        return connection.execute(select(pledges.c.pledge_id).limit(1)).first() is not None
