"""``check_session`` (benchmarks/check.py) on a protocol's first planned episodes, as a function and a command:
``python -m vla_bench.harness.session_check PROTOCOL [--task NAME]`` (exit status 1 when a check fails)."""

from __future__ import annotations

import argparse
import sys

from vla_bench.benchmarks.check import STEPS, SessionCheck, check_session
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import load_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol


def check_protocol(protocol: Protocol, task: str | None = None, steps: int = STEPS) -> SessionCheck:
    """The checks on the first two planned episodes of ``task`` (default: the protocol's first task)."""
    name = task or protocol.tasks[0].name
    episodes = tuple(episode_spec(protocol, name, i) for i in range(min(2, protocol.episodes_per_task)))
    return check_session(resolve_adapter(protocol.adapter), protocol, name, episodes, steps=steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("protocol", help="protocol id or TOML file, e.g. mujoco/hopper@v1")
    parser.add_argument("--task", help="task name (default: the protocol's first task)")
    parser.add_argument("--steps", type=int, default=STEPS, help="steps of each determinism rollout")
    args = parser.parse_args(argv)
    check = check_protocol(load_protocol(args.protocol), args.task, args.steps)
    sys.stdout.write("\n".join(check.lines()) + "\n")
    return 0 if check.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
