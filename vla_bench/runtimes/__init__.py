"""Benchmark runtimes: the interpreter a benchmark's env workers run in.

A benchmark whose stack cannot join the main environment declares a ``RuntimeSpec`` (``benchmarks.RUNTIMES``).
``resolve`` picks its interpreter (adopted with ``vla-bench setup NAME --python``, else built by ``vla-bench
setup NAME``, else this interpreter when it satisfies the spec); ``build`` makes and adopts them; ``check`` asks
an interpreter what it has installed. Only ``benchmarks`` (the lightweight registry) and ``spec`` are imported.
"""
