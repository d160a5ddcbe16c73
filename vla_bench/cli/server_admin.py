"""``vla-bench server ...``: users, tokens, migrations, reference baselines and moderation of a leaderboard
database (verification commands: :mod:`vla_bench.cli.server_verify`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vla_bench.cli import server_verify as cli_verify
from vla_bench.cli.server_support import DbOption, load_settings, open_database
from vla_bench.spec.errors import UserError

server_app = typer.Typer(no_args_is_help=True, help="Administer a leaderboard database: users, tokens, "
                                                    "migrations, moderation.")


@server_app.command("migrate")
def migrate(db: DbOption = None) -> None:
    """Upgrade the database to this vla-bench's schema (what `serve` does at start unless --no-migrate)."""
    from vla_bench.server.core.migrate import schema_status  # noqa: PLC0415

    database = open_database(db, migrate=True)
    try:
        status = schema_status(database.engine)
        typer.echo(f"database at migration {status.current} (head {status.head})")
    finally:
        database.dispose()


@server_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="user name shown on the leaderboard")],
    admin: Annotated[bool, typer.Option("--admin", help="may hide, reject and delete submissions")] = False,
    db: DbOption = None,
) -> None:
    """Create a user (a submitter, or an admin with --admin)."""
    from vla_bench.server import crud  # noqa: PLC0415

    database = open_database(db)
    try:
        with database.write() as session:
            user = crud.create_user(session=session, name=name, role="admin" if admin else "submitter")
            typer.echo(f"created {user.role} {user.name!r}; give them a token with "
                       f"`vla-bench server create-token {user.name}`")
    finally:
        database.dispose()


@server_app.command("create-token")
def create_token(
    name: Annotated[str, typer.Argument(help="the user the token acts as")],
    label: Annotated[str, typer.Option(help="a note to tell tokens apart")] = "",
    db: DbOption = None,
) -> None:
    """Create an API token and print it. It is shown this once; the database keeps only its hash."""
    from vla_bench.server import crud  # noqa: PLC0415

    settings = load_settings(db)
    database = open_database(db)
    try:
        with database.write() as session:
            user = crud.get_user(session=session, name=name)
            if user is None:
                raise UserError(f"no user {name!r}: create it with `vla-bench server create-user {name}`")
            token, plaintext = crud.create_token(session=session, user=user, secret_key=settings.secret_key,
                                                 label=label)
            typer.echo(f"token for {name!r} (prefix {token.prefix}); store it now, it is not shown again:", err=True)
            typer.echo(plaintext)
    finally:
        database.dispose()


@server_app.command("revoke-token")
def revoke_token(
    prefix: Annotated[str, typer.Argument(help="the token's first 12 characters, as printed at creation")],
    db: DbOption = None,
) -> None:
    """Revoke API tokens by their prefix."""
    from vla_bench.server import crud  # noqa: PLC0415

    database = open_database(db)
    try:
        with database.write() as session:
            count = crud.revoke_tokens(session=session, prefix=prefix)
        if not count:
            raise UserError(f"no active token starts with {prefix!r}")
        typer.echo(f"revoked {count} token(s)")
    finally:
        database.dispose()


@server_app.command("load-baselines")
def load_baselines(
    directory: Annotated[Path | None, typer.Argument(help="a bundle directory or a folder of them "
                                                          "[default: the repository's results/]")] = None,
    db: DbOption = None,
) -> None:
    """Load results bundles as reference baselines (already loaded ones are skipped)."""
    from vla_bench.server.services.baselines import load_baselines as load  # noqa: PLC0415

    settings = load_settings(db)
    root = directory or settings.results_dir
    if root is None:
        raise UserError("no results directory: pass one (this installation has no repository results/)")
    database = open_database(db)
    try:
        outcomes = load(database, root, rel_tol=settings.score_rel_tol)
    finally:
        database.dispose()
    for outcome in outcomes:
        state = (f"refused: {outcome.error}" if outcome.error else
                 f"{'loaded' if outcome.created else 'already there'} as submission {outcome.submission_id}")
        typer.echo(f"{outcome.directory}: {state}")
    if not outcomes:
        typer.echo(f"no bundles under {root}")
    if any(o.error for o in outcomes):
        raise typer.Exit(1)


def _moderate(submission_id: int, action: str, db: str | None, reason: str | None = None) -> None:
    from vla_bench.server.services import moderation  # noqa: PLC0415

    database = open_database(db)
    try:
        moderation.apply(database, submission_id, action, actor="cli", reason=reason)  # type: ignore[arg-type]
    finally:
        database.dispose()
    typer.echo(f"submission {submission_id}: {action} done")


@server_app.command("hide")
def hide(submission_id: int, db: DbOption = None) -> None:
    """Hide a submission from leaderboards and pages (it stays in the database)."""
    _moderate(submission_id, "hide", db)


@server_app.command("unhide")
def unhide(submission_id: int, db: DbOption = None) -> None:
    """Show a hidden submission again."""
    _moderate(submission_id, "unhide", db)


@server_app.command("publish")
def publish(submission_id: int, db: DbOption = None) -> None:
    """Publish a validated (or previously rejected) submission."""
    _moderate(submission_id, "publish", db)


@server_app.command("reject")
def reject(submission_id: int, reason: Annotated[str, typer.Option(help="shown on the submission page")],
           db: DbOption = None) -> None:
    """Take a submission off the leaderboard as rejected, with a reason."""
    _moderate(submission_id, "reject", db, reason)


@server_app.command("verify")
def verify(submission_id: int, db: DbOption = None) -> None:
    """Give a submission the verified badge (checked by the maintainers)."""
    _moderate(submission_id, "verify", db)


@server_app.command("delete")
def delete(submission_id: int, db: DbOption = None,
           yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False) -> None:
    """Delete a submission and its stored bundle for good."""
    from vla_bench.server.services import media, moderation  # noqa: PLC0415

    if not yes:
        typer.confirm(f"delete submission {submission_id} and its bundle?", abort=True)
    settings = load_settings(db)
    database = open_database(db)
    try:
        videos = media.video_paths(database, submission_id)
        moderation.delete(database, submission_id)
        media.remove_unreferenced(database, settings, videos)  # as the API's delete: files no row names any more
    finally:
        database.dispose()
    typer.echo(f"submission {submission_id} deleted")


cli_verify.add_commands(server_app)  # last, as they are listed in `vla-bench server --help`
