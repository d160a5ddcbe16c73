"""API tokens are random, shown once and stored only as a keyed hash."""

from __future__ import annotations

import sqlalchemy as sa
from leaderboard_testing import DatabaseFactory, make_server

from vla_bench.server import crud
from vla_bench.server.core.security import generate_token, hash_token


def test_tokens_are_random_and_their_hash_depends_on_the_secret() -> None:
    tokens = {generate_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) > 40 for t in tokens)
    token = next(iter(tokens))
    assert hash_token(token, "a") != hash_token(token, "b") and token not in hash_token(token, "a")


def test_the_database_never_holds_a_plaintext_token(sqlite_databases: DatabaseFactory) -> None:
    server = make_server(sqlite_databases.fresh())
    try:
        with server.db.engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT * FROM api_tokens")).all()
        dump = repr(rows)
        assert len(rows) == 2
        for token in (server.admin_token, server.user_token):
            assert token not in dump and token[:12] in dump  # the display prefix only
        with server.db.session() as session:
            found = crud.user_for_token(session=session, token=server.user_token, secret_key=server.settings.secret_key)
            assert found is not None and found[0].name == "alice"
            assert crud.user_for_token(session=session, token=server.user_token, secret_key="another") is None
    finally:
        server.db.dispose()
