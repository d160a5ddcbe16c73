"""Request dependencies as typed aliases: route signatures say what they need (``session: SessionDep``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from vla_bench.server import crud
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.core.ratelimit import RateLimiter
from vla_bench.server.models import User

bearer = HTTPBearer(auto_error=False, description="an API token from `vla-bench server create-token USER`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]

MAX_ID = 2**63 - 1  # a database id: larger numbers are refused with 422 before any query sees them
SubmissionId = Annotated[int, Path(ge=1, le=MAX_ID, description="a submission id")]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID, description="a submission id")]
DatabaseDep = Annotated[Database, Depends(get_database)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]


def get_session(db: DatabaseDep) -> Iterator[Session]:
    with db.session() as session:
        yield session


# scope="function": the session (and its connection) is closed when the endpoint returns, before the response
# is serialized and sent; the default request scope held the connection until after sending, which starved
# the pool under a burst.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_base_url(settings: SettingsDep) -> str:
    """Absolute URL prefix for links in responses, from the settings only: the request's Host header is the
    client's to choose, and links built from it would point wherever a forged header says."""
    return settings.base_url


BaseUrlDep = Annotated[str, Depends(get_base_url)]


@dataclass(frozen=True)
class Caller:
    user: User
    token_id: int


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def get_caller(db: DatabaseDep, settings: SettingsDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None:
        raise _unauthorized("missing API token: send the header 'Authorization: Bearer <token>' (an admin creates "
                            "tokens with `vla-bench server create-token USER`)")
    # A short session of its own: a submission's upload and validation must not hold a connection open.
    with db.session() as session:
        found = crud.user_for_token(session=session, token=credentials.credentials, secret_key=settings.secret_key)
        if found is None:
            raise _unauthorized("invalid or revoked API token")
        user, token = found
        session.expunge_all()  # detached, with its columns loaded
    return Caller(user=user, token_id=token.id)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def get_current_user(caller: CurrentCaller) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


def get_current_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"user {user.name!r} is not an admin")
    return user


AdminUser = Annotated[User, Depends(get_current_admin)]


def get_optional_user(db: DatabaseDep, settings: SettingsDep,
                      credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User | None:
    """The caller when a token is sent (an invalid one is still refused), else None: for public reads that
    show more to admins."""
    if credentials is None:
        return None
    return get_caller(db, settings, credentials).user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
