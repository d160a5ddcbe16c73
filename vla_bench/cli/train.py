"""``vla-bench train ALGO ...``: the reference trainers from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vla_bench.spec.errors import UserError


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--option {pair!r}: expected KEY=VALUE, e.g. --option alpha=2.5")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def train_command(
    algo: Annotated[str, typer.Argument(help="bc | iql | td3bc | cql | dt (offline, need --dataset); ppo | sac "
                                             "(online, Stable-Baselines3); grpo (online); gail (online, --dataset of "
                                             "expert demonstrations); dagger (needs --expert)")],
    protocol: Annotated[str | None, typer.Option(help="protocol id for periodic evaluation, e.g. "
                                                      "mujoco/hopper@v1 (omit: no evaluation)")] = None,
    dataset: Annotated[Path | None, typer.Option(help="D4RL-format HDF5 file (offline algorithms; "
                                                      "make one with `vla-bench collect`)")] = None,
    steps: Annotated[int, typer.Option(min=1, help="gradient steps (offline, dagger) or environment steps "
                                                   "(ppo, sac) in total (CORL offline: 1M)")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="seed of initialization and sampling")] = 0,
    out: Annotated[Path, typer.Option(help="run directory: logs, checkpoint, model.onnx; rerun to resume")] = (
        Path("runs/train")
    ),
    eval_every: Annotated[int, typer.Option(min=0, help="evaluate every K steps (0: only at the end)")] = 0,
    eval_episodes: Annotated[int, typer.Option(min=1, help="episodes per task per evaluation")] = 10,
    log_every: Annotated[int, typer.Option(min=1, help="log losses every K steps")] = 1000,
    checkpoint_every: Annotated[int, typer.Option(min=0, help="checkpoint every K steps (and at the end)")] = 10_000,
    option: Annotated[list[str] | None, typer.Option(help="algorithm option KEY=VALUE (repeatable), e.g. "
                                                          "alpha=2.5, head=gaussian, chunk=4")] = None,
    expert: Annotated[str | None, typer.Option(help="dagger: the expert agent, e.g. "
                                                    "baseline:metaworld-scripted")] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    snapshot_every: Annotated[int, typer.Option(min=0, help="ppo/sac: also export the policy every K env steps "
                                                            "to OUT/snapshots/step_K (e.g. a 'medium' policy)")] = 0,
    record_rollouts: Annotated[bool, typer.Option(help="ppo/sac: write every training transition to "
                                                       "OUT/rollouts.hdf5 (D4RL's medium-replay)")] = False,
) -> None:
    """Train a reference agent; exports OUT/model.onnx (+ manifest.json) for `--agent OUT/model.onnx`."""
    from rich.console import Console  # noqa: PLC0415

    from vla_bench.training import OFFLINE, trainer_key  # noqa: PLC0415
    from vla_bench.training.offline import TrainOptions, TrainResult, train_offline  # noqa: PLC0415
    from vla_bench.training.trainers import ONLINE, unknown_trainer  # noqa: PLC0415

    console = Console(stderr=True)
    key = trainer_key(algo)
    if key not in OFFLINE and key not in ONLINE:
        raise unknown_trainer(algo)
    if key in OFFLINE and dataset is None:
        raise UserError(f"{algo} is an offline algorithm: pass --dataset FILE.hdf5 (make one with `vla-bench "
                        "collect --agent A --protocol P --episodes N --out FILE.hdf5`)")
    options = TrainOptions(steps=steps, seed=seed, eval_every=eval_every, eval_episodes=eval_episodes,
                           log_every=log_every, checkpoint_every=checkpoint_every, progress=progress,
                           snapshot_every=snapshot_every, record_rollouts=record_rollouts,
                           options=parse_options(option))
    result: TrainResult
    if key in ONLINE:
        if protocol is None:
            raise UserError(f"{algo} trains in the environment of --protocol: pass one, e.g. mujoco/hopper@v1")
        if key == "dagger":
            from vla_bench.training.dagger import train_dagger  # noqa: PLC0415

            if expert is None:
                raise UserError("dagger queries an expert in every visited state: pass --expert AGENT, e.g. "
                                "--expert baseline:metaworld-scripted")
            result = train_dagger(expert, protocol, out, options=options)
        elif key == "gail":
            from vla_bench.training.gail_train import train_gail  # noqa: PLC0415

            if dataset is None:
                raise UserError("gail imitates demonstrations: pass --dataset EXPERT.hdf5 (make one with `vla-bench "
                                "collect --agent EXPERT --protocol P --episodes N --out EXPERT.hdf5`)")
            result = train_gail(dataset, protocol, out, options=options)
        elif key == "grpo":
            from vla_bench.training.grpo_train import train_grpo  # noqa: PLC0415

            result = train_grpo(protocol, out, options=options)
        else:
            from vla_bench.training.online import train_online  # noqa: PLC0415

            result = train_online(key, protocol, out, options=options)
    else:
        assert dataset is not None
        result = train_offline(algo, dataset, out, protocol=protocol, options=options)
    console.print(f"trained {algo} for {result.steps} steps: {result.model} (manifest {result.manifest})",
                  highlight=False)
    if result.last_eval and result.last_eval.get("score") is not None:
        console.print(f"last evaluation ({result.last_eval['episodes']} episodes, unofficial): "
                      f"{result.last_eval['metric']} {result.last_eval['score']:.3f}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
