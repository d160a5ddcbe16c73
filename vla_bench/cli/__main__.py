"""``python -m vla_bench.cli``: the same as the ``vla-bench`` command."""

from vla_bench.cli import main

main()
