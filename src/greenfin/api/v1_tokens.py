"""API tokens of the signed-in user: list them (never the secret) and revoke one.

A token is created by ``POST /api/v1/auth/tokens`` (api/v1.py).  Revoking one takes effect at once
in this process (its cache entry is dropped) and in the other worker processes when their cache
entry for it ends (``PrincipalCache.ttl``); the store refuses it from the moment of revocation.
An administrator (MANAGE_USER) may revoke another user's token by naming the user.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from greenfin.api.security import forget_tokens, principal
from greenfin.service.auth import Principal, TokenProblem, list_tokens, revoke_token

router = APIRouter(prefix="/api/v1")


class TokenInfoOut(BaseModel):
    name: str = Field(description="令牌用途 / what the token is for")
    created_at: dt.datetime = Field(description="创建时间（UTC）/ created (UTC)")
    last_used_at: dt.datetime | None = Field(
        description="最近使用时间（UTC，至多每分钟记一次）/ last used (UTC, written at most once a minute)"
    )
    revoked: bool = Field(description="是否已吊销 / whether it was revoked")


class RevokedOut(BaseModel):
    name: str = Field(description="被吊销的令牌用途 / the revoked token's name")
    username: str = Field(description="令牌所属用户 / whose token it was")
    revoked: int = Field(description="吊销的令牌数（同名令牌一并吊销）/ tokens revoked (all of that name)")


TokenName = Annotated[str, Path(min_length=1, max_length=100, description="令牌用途 / the token's name")]
OtherUser = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=100,
        description="他人的用户名（须有 MANAGE_USER 权限）；缺省为本人 / another user (MANAGE_USER only); "
        "default yourself",
    ),
]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


@router.get("/auth/tokens", response_model=list[TokenInfoOut], tags=["auth"])
def get_tokens(request: Request, who: Annotated[Principal, Depends(principal)]) -> list[TokenInfoOut]:
    """本人的 API 令牌（不含令牌本身）/ your API tokens, without their secrets."""
    return [
        TokenInfoOut(name=t.name, created_at=t.created_at, last_used_at=t.last_used_at, revoked=t.revoked)
        for t in list_tokens(_engine(request), who.username)
    ]


@router.delete("/auth/tokens/{name}", response_model=RevokedOut, tags=["auth"])
def delete_token(
    name: TokenName,
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    username: OtherUser = None,
) -> RevokedOut:
    """吊销本人（或管理员吊销他人）的 API 令牌，立即生效 / revoke an API token."""
    owner = username or who.username
    try:
        hashes = revoke_token(_engine(request), who.username, owner, name)
    except TokenProblem as exc:  # no such live token (404), or not theirs to revoke (403)
        raise HTTPException(exc.status, str(exc)) from None
    forget_tokens(request, hashes)
    return RevokedOut(name=name, username=owner, revoked=len(hashes))
