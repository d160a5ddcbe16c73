"""DAgger (Ross, Gordon & Bagnell, "A Reduction of Imitation Learning and Structured Prediction to No-Regret
Online Learning", AISTATS 2011) with an expert that can be queried in any state, e.g. MetaWorld's scripted
policies (``--expert baseline:metaworld-scripted``).

Iteration ``i``: run the mixture ``pi_i = beta_i * expert + (1 - beta_i) * learner`` (per step, seeded per
episode) through the harness for ``episodes`` episodes per task, label every visited state with the expert's
action, add them to the aggregate dataset, and continue training the BC learner (:mod:`.bc`) on the whole
aggregate. ``beta_0 = 1`` (the first iteration is plain behavior cloning of expert demonstrations) and
``beta_i = beta_decay^i``, the paper's ``beta_i = p^(i-1)`` schedule.

Data episodes run under a derived protocol ``<suite>.dagger`` with its own seed base (as ``collect`` does):
they never replay the evaluation's episodes. Observation normalization is fit on the first iteration's
data and then frozen. Resume works at iteration granularity (the aggregate is saved as safetensors).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
import torch
from numpy.typing import NDArray

from vla_bench.agents.conditioning import KIND, InstructionOneHot, conditioned_state
from vla_bench.agents.policy import Action, Policy
from vla_bench.spec import Observation, Protocol, TaskSpec
from vla_bench.spec.errors import UserError
from vla_bench.training.algorithm import Problem, config_from_dict
from vla_bench.training.bc import BC, BCConfig
from vla_bench.training.checkpoints import load_checkpoint, read_checkpoint_state, save_checkpoint
from vla_bench.training.export import ExportedPolicy, TorchPolicy, export_onnx, write_manifest
from vla_bench.training.logs import CsvLog, plot_curves, progress_bar
from vla_bench.training.networks import ObsNormalizer
from vla_bench.training.offline import EvalPoint, TrainOptions, TrainResult, evaluate_policy
from vla_bench.training.replay import TensorReplay
from vla_bench.training.seeding import seed_everything

DATA_FILE = "dagger_data.safetensors"


@dataclass
class DAggerConfig:
    iterations: int = 5
    """data-collection rounds (the first is expert-only)"""
    episodes: int = 10
    """episodes per task per round"""
    beta_decay: float = 0.5
    """beta_i = beta_decay^i: probability that the expert acts at a step in round i (paper: p^(i-1))"""
    hidden: int = 256
    layers: int = 2
    lr: float = 3e-4
    batch_size: int = 256
    max_steps: int = 0
    """cut data episodes at this many steps (0: the protocol's limit)"""
    task_one_hot: bool = False
    """append a one-hot of the episode's instruction to the state (multi-task protocols with language, e.g.
    MetaWorld MT10): one policy for all tasks; the instruction list goes into the manifest"""


class DataSpec(TypedDict):
    """What the learner is built from, fixed by the first round's data (checkpointed as ``data_spec``)."""

    mean: list[float]  # the observation normalizer's
    std: list[float]
    low: list[float]  # the action box
    high: list[float]


class _Recorder:
    """Acts with the expert (probability beta) or the learner, and records the expert's label."""

    def __init__(self, expert: Policy, learner: torch.nn.Module | None, beta: float, round_index: int,
                 sink: dict[tuple[int, int], tuple[NDArray[np.float32], NDArray[np.float32]]], specs: list[TaskSpec],
                 instructions: dict[str, int] | None = None) -> None:
        self.expert, self.learner, self.beta, self.round, self.sink = expert, learner, beta, round_index, sink
        self.instructions = instructions
        self.specs = specs
        self.seed, self.t = 0, 0
        self.rng = np.random.default_rng(0)

    def reset(self, task: TaskSpec) -> None:
        self.specs.append(task)
        self.expert.reset(task)
        self.seed, self.t = int(task.episode_seed or 0), 0
        self.rng = np.random.default_rng([self.seed, self.round])

    def act(self, observation: Observation) -> Action:
        label = np.asarray(self.expert.act(observation), dtype=np.float32)
        state = (conditioned_state(observation, self.instructions) if self.instructions is not None
                 else np.asarray(observation["state"], dtype=np.float32))
        self.sink[(self.seed, self.t)] = (state, label)
        self.t += 1
        if self.learner is None or self.rng.random() < self.beta:
            return label
        with torch.no_grad():
            action: NDArray[np.float32] = self.learner(torch.as_tensor(state)[None]).numpy()[0]
        return action


def data_protocol(protocol: Protocol, episodes: int, seed: int, round_index: int, max_steps: int) -> Protocol:
    data = protocol.model_dump(mode="json")
    data.update(id=f"{protocol.benchmark}/{protocol.suite}.dagger@v{protocol.version}",
                description=f"DAGGER DATA ROUND {round_index}, NOT AN EVALUATION, of {protocol.id}",
                episodes_per_task=episodes, seed_base=seed * 1000 + round_index + 1, deprecated=None)
    if max_steps:
        data["max_steps"] = min(max_steps, protocol.max_steps)
    return Protocol.model_validate(data)


def train_dagger(expert: str | Callable[[], Policy], protocol: str | Protocol, out: str | Path, *,
                 options: TrainOptions | None = None) -> TrainResult:
    """``options.steps`` BC gradient steps in total, spread evenly over the rounds."""
    from vla_bench.agents.loaders import agent_from_object, load_agent  # noqa: PLC0415
    from vla_bench.harness.api import evaluate  # noqa: PLC0415
    from vla_bench.training.online import resolve_protocol  # noqa: PLC0415

    opts = options or TrainOptions()
    resolved = resolve_protocol(protocol)
    if resolved.observation.mode != "state":
        raise UserError(f"dagger trains state policies; {resolved.id} observes {resolved.observation.mode!r}")
    config = config_from_dict(DAggerConfig, dict(opts.options))
    expert_agent = load_agent(expert) if isinstance(expert, str) else agent_from_object(expert)
    directory = Path(out).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    run: dict[str, object] = {"algo": "dagger", "protocol": resolved.id, "expert": expert_agent.spec,
                              "seed": opts.seed, "config": asdict(config)}
    saved = read_checkpoint_state(directory)
    if saved is not None and saved.get("run") != run:
        raise UserError(f"{directory} holds a checkpoint of another run; choose another --out")
    seed_everything(opts.seed)
    per_round = max(opts.steps // config.iterations, 1)
    instructions = [task.instruction for task in resolved.tasks] if config.task_one_hot else None
    if instructions is not None and (not resolved.observation.language or len(set(instructions)) != len(instructions)):
        raise UserError(f"task_one_hot needs a protocol with language observations and one distinct instruction per "
                        f"task; {resolved.id} has language={resolved.observation.language}")
    instruction_index = {text: i for i, text in enumerate(instructions)} if instructions is not None else None

    def as_policy(module: torch.nn.Module) -> TorchPolicy | InstructionOneHot:
        policy = TorchPolicy(module)
        return InstructionOneHot(policy, instructions) if instructions is not None else policy

    observations = np.zeros((0, 0), dtype=np.float32)
    labels = np.zeros((0, 0), dtype=np.float32)
    algorithm: BC | None = None
    normalizer: ObsNormalizer | None = None
    replay: TensorReplay | None = None
    start_round = 0
    eval_log = CsvLog(directory / "eval.csv", resume_step=saved["step"] if saved else None)
    train_log = CsvLog(directory / "train.csv", resume_step=saved["step"] if saved else None)
    last_eval: EvalPoint | None = None
    history: list[dict[str, float]] = []
    bc_config = BCConfig(hidden=config.hidden, layers=config.layers, lr=config.lr, batch_size=config.batch_size)

    def build(obs: NDArray[np.float32], acts: NDArray[np.float32], spec: DataSpec) -> None:
        nonlocal algorithm, normalizer
        normalizer = ObsNormalizer(torch.as_tensor(spec["mean"]), torch.as_tensor(spec["std"]))
        algorithm = BC(bc_config, Problem(obs.shape[1], acts.shape[1], tuple(spec["low"]), tuple(spec["high"])))

    spec: DataSpec | None = None
    if saved is not None:
        from safetensors.torch import load_file  # noqa: PLC0415

        stored = load_file(str(directory / DATA_FILE))
        observations, labels = stored["observations"].numpy(), stored["labels"].numpy()
        spec = saved["data_spec"]
        build(observations, labels, spec)
        assert algorithm is not None and normalizer is not None
        replay = TensorReplay(_arrays(observations, labels, normalizer), seed=opts.seed)
        load_checkpoint(directory, algorithm, replay)
        start_round = int(saved["round"]) + 1

    step = per_round * start_round
    with progress_bar(opts.progress) as bar:
        task = bar.add_task(f"dagger seed {opts.seed}", total=per_round * config.iterations, completed=step)
        for round_index in range(start_round, config.iterations):
            beta = config.beta_decay**round_index
            sink: dict[tuple[int, int], tuple[NDArray[np.float32], NDArray[np.float32]]] = {}
            specs: list[TaskSpec] = []
            learner = ExportedPolicy(normalizer, algorithm.policy()).eval() if algorithm and normalizer else None

            def factory(learner: torch.nn.Module | None = learner, beta: float = beta, index: int = round_index,
                        sink: dict[tuple[int, int], tuple[NDArray[np.float32], NDArray[np.float32]]] = sink,
                        specs: list[TaskSpec] = specs) -> _Recorder:
                return _Recorder(expert_agent.factory(), learner, beta, index, sink, specs, instruction_index)

            evaluate(factory, data_protocol(resolved, config.episodes, opts.seed, round_index, config.max_steps),
                     limit_episodes=config.episodes, progress=False)
            keys = sorted(sink)  # deterministic order however the harness scheduled the episodes
            if not keys:
                raise UserError(f"dagger round {round_index} recorded no states of {resolved.id}")
            new_obs = np.stack([sink[k][0] for k in keys])
            new_labels = np.stack([sink[k][1] for k in keys])
            agreement = float("nan")  # the learner's MSE to the expert on the states it visited this round
            if algorithm is None:
                fitted = ObsNormalizer.fit(new_obs)
                spec = {"mean": fitted.mean.tolist(), "std": fitted.std.tolist(),
                        "low": list(specs[0].action_low), "high": list(specs[0].action_high)}
                build(new_obs, new_labels, spec)
                observations, labels = new_obs, new_labels
            else:
                if learner is not None:
                    agreement = float(np.mean((_predict(learner, new_obs) - new_labels) ** 2))
                observations = np.concatenate([observations, new_obs])
                labels = np.concatenate([labels, new_labels])
            assert algorithm is not None and normalizer is not None
            replay = TensorReplay(_arrays(observations, labels, normalizer), seed=opts.seed + round_index)
            losses: list[float] = []
            for _ in range(per_round):
                step += 1
                losses.append(algorithm.update(replay.sample(config.batch_size), step)["loss"])
                bar.update(task, completed=step)
            row = {"step": float(step), "round": float(round_index), "beta": beta,
                   "dataset_size": float(len(observations)), "learner_expert_mse": agreement,
                   "loss": float(np.mean(losses[-100:]))}
            train_log.write(row)
            history.append(row)
            if opts.eval_every or round_index == config.iterations - 1:
                policy = as_policy(ExportedPolicy(normalizer, algorithm.policy()).eval())
                last_eval = evaluate_policy(policy, resolved, opts.eval_episodes, step)
                eval_log.write(last_eval)
            from safetensors.torch import save_file  # noqa: PLC0415

            save_file({"observations": torch.as_tensor(observations), "labels": torch.as_tensor(labels)},
                      str(directory / DATA_FILE))
            save_checkpoint(directory, algorithm, replay, step, {"run": run, "round": round_index, "data_spec": spec})
    assert algorithm is not None and normalizer is not None
    module = ExportedPolicy(normalizer, algorithm.policy()).eval()
    conditioning = {"conditioning": {"kind": KIND, "instructions": instructions}} if instructions is not None else {}
    model = export_onnx(module, algorithm.problem.obs_dim, directory / "model.onnx")
    manifest = write_manifest(directory, algo="dagger", protocol=resolved.id, dataset=None, steps=step,
                              seed=opts.seed, obs_dim=algorithm.problem.obs_dim,
                              action_dim=algorithm.problem.action_dim, chunk=1,
                              action_low=algorithm.problem.action_low, action_high=algorithm.problem.action_high,
                              config=asdict(config), extra={"expert": expert_agent.spec, "last_eval": last_eval,
                                                           "aggregate_size": len(observations), **conditioning})
    plot_curves(directory / "train.csv", directory / "eval.csv", directory / "curve.png",
                f"DAgger on {resolved.id} (seed {opts.seed})")
    (directory / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return TrainResult(directory=directory, model=model, manifest=manifest, steps=step, last_eval=last_eval,
                       history=history)


def _arrays(observations: NDArray[np.float32], labels: NDArray[np.float32],
            normalizer: ObsNormalizer) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return {"obs": normalizer(torch.as_tensor(observations)),
                "actions": torch.as_tensor(labels)[:, None, :], "mask": torch.ones(len(labels), 1)}


def _predict(module: torch.nn.Module, observations: NDArray[np.float32]) -> NDArray[np.float32]:
    with torch.no_grad():
        out: NDArray[np.float32] = module(torch.as_tensor(observations)).numpy()
    return out
