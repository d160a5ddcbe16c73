"""``vla-bench setup`` and ``vla-bench doctor``. Registered through ``cli.COMMAND_MODULES``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vla_bench.spec.errors import UserError


def register(app: typer.Typer) -> None:
    app.command("setup")(setup_command)
    app.command("doctor")(doctor_command)


def setup_command(
    benchmark: Annotated[str, typer.Argument(help="the benchmark whose runtime to build, e.g. libero")],
    python: Annotated[str | None, typer.Option(help="adopt this existing interpreter instead of building a venv "
                                                    "(checked against the runtime's requirements)")] = None,
    force: Annotated[bool, typer.Option(help="rebuild a built runtime; with --python: adopt even if requirements "
                                             "are missing")] = False,
    forget: Annotated[bool, typer.Option(help="stop using the interpreter adopted for this runtime")] = False,
    print_requirements: Annotated[bool, typer.Option(
        "--print-requirements", help="print what an interpreter needs for this runtime, one per line")] = False,
) -> None:
    """Build a benchmark's runtime (a virtual environment with its pinned requirements), or adopt an interpreter."""
    from vla_bench.runtimes.build import setup, with_worker_requirements  # noqa: PLC0415
    from vla_bench.runtimes.registry import runtime_spec  # noqa: PLC0415

    if print_requirements:
        spec = runtime_spec(benchmark)
        if spec is None:
            raise UserError(f"benchmark {benchmark!r} runs in the main interpreter: it has no runtime requirements")
        sys.stdout.write("".join(f"{r}\n" for r in with_worker_requirements(spec).requirements))
        return

    err = Console(stderr=True)
    setup(benchmark, python=python, force=force, forget=forget, echo=lambda text: err.print(escape(text),
                                                                                               highlight=False))


def doctor_command(
    benchmark: Annotated[str | None, typer.Argument(help="check one benchmark in depth (its modules import)")] = None,
) -> None:
    """Show what is installed, which runtime each benchmark uses, and whether the renderer works."""
    from vla_bench.runtimes import doctor  # noqa: PLC0415

    console = Console()
    packages = Table(title="this interpreter", title_justify="left")
    packages.add_column("package")
    packages.add_column("version")
    packages.add_row("python", f"{sys.version.split()[0]} ({sys.executable})")
    for name, version in doctor.installed_packages().items():
        packages.add_row(name, version or "[dim]not installed[/]")
    for what, where in doctor.describe_locations().items():
        packages.add_row(f"[dim]{what}[/]", escape(where))
    console.print(packages)

    found = doctor.statuses(benchmark)
    table = Table(title="benchmarks", title_justify="left")
    for column in ("benchmark", "status", "runtime", "interpreter"):
        table.add_column(column, no_wrap=column != "interpreter", overflow="fold")
    for status in found:
        mark = "[green]ok[/]" if status.ok else "[red]not ready[/]"
        where = "(this interpreter)" if status.python == sys.executable else status.python or "-"
        table.add_row(status.benchmark, mark, status.runtime, escape(where))
    console.print(table)
    for status in found:  # details as wrapped paragraphs: a table column 20 characters wide is unreadable
        if not status.ok or benchmark is not None:
            console.print(f"[bold]{status.benchmark}[/]: {escape(status.detail)}", highlight=False)

    backend, works, detail = doctor.renderer_status()
    console.print(f"renderer: MUJOCO_GL={backend} " + ("[green]works[/]" if works else "[red]fails[/]")
                  + f" ({escape(detail)})")
    if benchmark is not None and not all(s.ok for s in found):
        raise UserError(f"benchmark {benchmark!r} is not ready: {found[0].detail}")
