"""``vla-bench collect``: run an agent through a protocol's environment and write a D4RL-format dataset
(:mod:`vla_bench.harness.collect` does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vla_bench.harness.collect import collect


def collect_command(
    agent: Annotated[str, typer.Option(help="baseline:NAME, model.onnx, model.pt, or package.module:factory")],
    protocol: Annotated[str, typer.Option(help="protocol id whose environment to run, e.g. d4rl/hopper-medium@v1")],
    out: Annotated[Path, typer.Option(help="the D4RL-format HDF5 file to write")],
    episodes: Annotated[int | None, typer.Option(min=1, help="episodes per task (default: the protocol's "
                                                             "count; may exceed it)")] = None,
    noise: Annotated[float, typer.Option(min=0.0, help="std of Gaussian action noise, seeded per episode")] = 0.0,
    workers: Annotated[int, typer.Option(min=1, help="env worker processes")] = 1,
    envs_per_worker: Annotated[int, typer.Option(min=1, help="environments per worker (the policy batch)")] = 8,
    max_steps: Annotated[int | None, typer.Option(min=1, help="cut episodes at this many steps, as a timeout "
                                                              "(default: the protocol's limit)")] = None,
    seed: Annotated[int, typer.Option(help="seed base of the collection's episodes (never the evaluation's)")] = 0,
    task: Annotated[list[str] | None, typer.Option(help="collect only this task (repeatable)")] = None,
    overwrite: Annotated[bool, typer.Option(help="replace --out if it exists")] = False,
) -> None:
    """Collect a D4RL-format dataset: run an agent through a protocol's environment (not an evaluation)."""
    from rich.console import Console  # noqa: PLC0415

    result = collect(agent, protocol, out, episodes=episodes, noise=noise, workers=workers,
                     envs_per_worker=envs_per_worker, max_steps=max_steps, seed=seed, tasks=task or None,
                     overwrite=overwrite, progress=True)
    meta = result.metadata
    returns = meta["details"]["summary"]["scores"]["aggregate"] if meta["details"]["summary"]["scores"] else None
    console = Console(stderr=True)
    console.print(f"wrote {result.path}: {result.n_episodes} episodes, {result.n_steps} steps of "
                  f"{meta['protocol_id']} ({result.protocol.id}, not an evaluation)"
                  + (f"; {result.n_failed} failed episodes left out" if result.n_failed else ""), highlight=False)
    if returns and returns.get("mean"):
        console.print(f"{returns['metric']} of the collected episodes: {returns['mean']['mean']:.3f}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("collect")(collect_command)
