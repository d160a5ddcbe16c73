"""The ``vla-bench`` command line. Every typer command lives in this package; library modules import no typer.

:mod:`.app` holds the top-level commands and registers the others (:mod:`.server`, :mod:`.serve_policy`,
:mod:`.collect`, :mod:`.train`, :mod:`.runtimes`, :mod:`.offline`), each importing its heavy dependencies only
inside its commands so that ``vla-bench --help`` stays fast.
"""

from __future__ import annotations

from vla_bench.cli import started  # noqa: F401 - its import time is the command's start when /proc cannot say


def main() -> None:
    """The ``vla-bench`` entry point. ``eval``'s env workers start from the raw arguments first, so they import
    the simulator while this process imports typer and the harness."""
    import os  # noqa: PLC0415 - this function is the first thing the command runs
    import sys  # noqa: PLC0415

    from vla_bench.threads import limit_math_threads  # noqa: PLC0415

    limit_math_threads()  # before numpy / torch are imported by anything below
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless software rendering unless the user chose a backend
    from vla_bench.harness.prestart import prestart_from_argv  # noqa: PLC0415

    prestart_from_argv(sys.argv[1:])
    from vla_bench.cli.app import run  # noqa: PLC0415

    run()
