"""Alembic migrations of the leaderboard database (run programmatically by ``vla_bench.server.core.migrate``)."""
