"""Health check and "who am I" (lets a client check its token before submitting)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from vla_bench.server.api.deps import CurrentUser, DatabaseDep, SessionDep
from vla_bench.server.schemas import ErrorPublic, UserPublic

router = APIRouter(tags=["utils"])


@router.get("/health")
def health(session: SessionDep, db: DatabaseDep) -> dict[str, object]:
    session.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.backend}


@router.get("/users/me", response_model=UserPublic, responses={401: {"model": ErrorPublic}})
def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic(name=user.name, role=user.role)
