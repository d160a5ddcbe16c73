"""Dataset collection: run a policy through a protocol's environment and write a D4RL-format file.

``vla-bench collect --agent A --protocol P --episodes N --out FILE.hdf5`` (and :func:`collect` for the
reference trainers) is how the project makes its own offline datasets, since none can be downloaded here.

A collection is never an evaluation, and everything it writes says so:

- it runs a *derived* protocol, ``<benchmark>/<suite>.collect@vN`` (an id no registry or leaderboard
  knows), with ``episodes_per_task = N``, an optional shorter ``max_steps``, and ``seed_base`` = ``--seed``.
  The episode plan seeds from the suite name, so collected episodes never reuse the evaluation's episode
  seeds: a dataset does not contain the leaderboard's test episodes, and N may exceed the protocol's own
  episode count;
- the run is unofficial in the harness's sense too (it is run with ``limit_episodes``), and the file's
  metadata has ``official = false`` and ``kind = "collection"``, with the source protocol's id and hash, the
  derived protocol, the agent's identity, the seeds, the action noise and the harness version.

Only state observations are collected (the D4RL layout has no images); an episode that failed (policy or
environment error) is left out and counted in the metadata. Episodes are written in plan order (task, then
episode index), whatever the number of workers, so the same command writes the same arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vla_bench.spec.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from vla_bench.agents.policy import LoadedAgent
    from vla_bench.harness.trajectory import Trajectory
    from vla_bench.spec import EpisodeRecord, Protocol

COLLECT_SUFFIX = ".collect"
KIND = "collection"


@dataclass
class CollectResult:
    path: Path
    protocol: Protocol  # the derived collection protocol that was run
    n_episodes: int
    n_steps: int
    n_failed: int
    metadata: dict[str, Any] = field(default_factory=dict)  # the file's JSON metadata, read by the CLI


def collection_protocol(protocol: Protocol, episodes: int, *, max_steps: int | None = None, seed: int = 0,
                        tasks: list[str] | None = None) -> Protocol:
    """The protocol a collection runs: ``protocol`` with id ``<suite>.collect``, ``episodes`` per task, seed
    base ``seed``, optionally fewer steps or a subset of its tasks (see the module docstring)."""
    from vla_bench.spec import Protocol  # noqa: PLC0415

    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    if max_steps is not None and not 1 <= max_steps <= protocol.max_steps:
        raise UserError(f"--max-steps must be between 1 and the protocol's {protocol.max_steps}")
    if protocol.suite.endswith(COLLECT_SUFFIX):
        raise UserError(f"{protocol.id} is already a collection protocol; pass the protocol it was derived from")
    if protocol.observation.mode != "state":
        raise UserError(f"collect stores state observations only (D4RL's layout has no images), but {protocol.id} "
                        f"observes {protocol.observation.mode!r}; choose a state protocol of the same benchmark")
    data = protocol.model_dump(mode="json")
    if tasks:
        unknown = sorted(set(tasks) - set(protocol.task_names))
        if unknown:
            raise UserError(f"{protocol.id} has no task {', '.join(map(repr, unknown))}; its tasks: "
                            f"{', '.join(protocol.task_names)}")
        data["tasks"] = [t for t in data["tasks"] if t["name"] in tasks]
    data.update(
        id=f"{protocol.benchmark}/{protocol.suite}{COLLECT_SUFFIX}@v{protocol.version}",
        description=(f"DATA COLLECTION, NOT AN EVALUATION: episodes of {protocol.id} (sha256 {protocol.sha256()}) "
                     f"re-seeded for a dataset; scores of this run are not {protocol.id} scores. "
                     f"{protocol.description}"),
        episodes_per_task=episodes,
        seed_base=seed,
        deprecated=None,
    )
    if max_steps is not None:
        data["max_steps"] = max_steps
    return Protocol.model_validate(data)


def environment_sizes(protocol: Protocol) -> dict[str, tuple[int | None, int]]:
    """``task -> (state size, action size)`` of a protocol's environments, built in this process (for
    checking a dataset against the environment it is meant for: ``read_d4rl(..., expected_obs_dim=...)``)."""
    from vla_bench.harness.registry import resolve_adapter  # noqa: PLC0415
    from vla_bench.runtimes.resolve import MAIN, resolve  # noqa: PLC0415

    runtime = resolve(protocol.adapter)
    if runtime.kind != MAIN:  # its simulator stack is not importable here (that is why it has a runtime)
        raise UserError(f"{protocol.id}: benchmark {protocol.adapter!r} runs in its own runtime "
                        f"({runtime.kind} {runtime.python}), so its environments cannot be built in this process")
    adapter = resolve_adapter(protocol.adapter)
    sizes: dict[str, tuple[int | None, int]] = {}
    for task in protocol.tasks:
        session = adapter.make_session(protocol, task)
        try:
            spec = session.task_spec
            sizes[task.name] = (spec.state_dim, spec.action_dim)
        finally:
            session.close()
    return sizes


def collect(
    agent: str | LoadedAgent | object,
    protocol: str | Protocol,
    out: str | Path,
    *,
    episodes: int | None = None,
    noise: float = 0.0,
    workers: int = 1,
    envs_per_worker: int = 8,
    max_steps: int | None = None,
    seed: int = 0,
    tasks: list[str] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    policy_timeout: float | None = 60.0,
) -> CollectResult:
    """Collect ``episodes`` episodes per task (default: the protocol's count) of ``agent`` under ``protocol``
    with Gaussian action noise of std ``noise`` (seeded per episode), and write them to ``out`` in D4RL format."""
    from vla_bench.agents.loaders import agent_from_object, load_agent  # noqa: PLC0415
    from vla_bench.harness.eval_config import EvalConfig  # noqa: PLC0415
    from vla_bench.harness.runner import run_evaluation  # noqa: PLC0415
    from vla_bench.protocols import load_protocol  # noqa: PLC0415
    from vla_bench.spec import Protocol  # noqa: PLC0415

    source = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    target = Path(out).expanduser()
    if target.exists() and not overwrite:
        raise UserError(f"{target} already exists; choose another --out or pass --overwrite")
    if noise < 0:
        raise UserError("--noise is a standard deviation: it must be >= 0")
    derived = collection_protocol(source, episodes or source.episodes_per_task, max_steps=max_steps, seed=seed,
                                  tasks=tasks)
    loaded = load_agent(agent) if isinstance(agent, str) else agent_from_object(agent)
    kept: dict[tuple[str, int], tuple[EpisodeRecord, Trajectory]] = {}

    def sink(record: EpisodeRecord, trajectory: Trajectory) -> None:
        kept[record.key] = (record, trajectory)

    options = EvalConfig(workers=workers, envs_per_worker=envs_per_worker,
                         limit_episodes=derived.episodes_per_task,  # same plan; marks the run unofficial
                         progress=progress, trajectory_sink=sink, action_noise=noise, policy_timeout=policy_timeout)
    result = run_evaluation(derived, loaded, None, options)
    records = {record.key: record for record in result.records}
    return _write(target, source, derived, loaded, records, kept, noise, result.summary)


def _write(target: Path, source: Protocol, derived: Protocol, agent: LoadedAgent,
           records: dict[tuple[str, int], EpisodeRecord],
           kept: dict[tuple[str, int], tuple[EpisodeRecord, Trajectory]], noise: float,
           summary: Mapping[str, object]) -> CollectResult:
    import numpy as np  # noqa: PLC0415

    from vla_bench.datasets import OfflineDataset, write_d4rl  # noqa: PLC0415
    from vla_bench.harness import provenance  # noqa: PLC0415

    ordered = sorted(records.values(), key=lambda r: (derived.task_names.index(r.task), r.episode_index))
    good = [r for r in ordered if r.error is None and r.key in kept]
    good_keys = {r.key for r in good}
    failed = [r for r in ordered if r.key not in good_keys]
    if not good:
        reasons = "; ".join(sorted({f"{r.error_kind}: {r.error}" for r in failed if r.error}))[:500]
        raise UserError(f"no episode of {derived.id} finished without an error, nothing to write"
                        + (f" ({reasons})" if reasons else ""))
    dims = {kept[r.key][1].observations[0].shape[0] for r in good}
    if len(dims) > 1:
        raise UserError(f"the tasks of {source.id} observe states of different sizes {sorted(dims)}; one D4RL "
                        "file holds one size: collect one task at a time (--task NAME)")
    columns: dict[str, list[NDArray[np.generic]]] = {
        k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}
    episode_of_step: list[NDArray[np.int32]] = []
    for number, record in enumerate(good):
        trajectory = kept[record.key][1]
        steps = len(trajectory)
        timeouts = np.asarray(trajectory.timeouts, dtype=bool)
        terminals = np.asarray(trajectory.terminals, dtype=bool)
        if not (terminals[-1] or timeouts[-1]):
            timeouts[-1] = True  # ended by the harness (e.g. terminate_on_success): keep the boundary
        columns["observations"].append(np.stack(trajectory.observations))
        columns["actions"].append(np.stack(trajectory.actions).astype(np.float32))
        columns["rewards"].append(np.asarray(trajectory.rewards, dtype=np.float32))
        columns["next_observations"].append(np.stack(trajectory.next_observations))
        columns["terminals"].append(terminals)
        columns["timeouts"].append(timeouts)
        episode_of_step.append(np.full(steps, number, dtype=np.int32))
    arrays = {key: np.concatenate(parts) for key, parts in columns.items()}
    dataset = OfflineDataset.from_arrays(arrays, source=str(target))
    prov = provenance.collect()
    metadata: dict[str, object] = {
        "kind": KIND,
        "official": False,
        "notice": "vla-bench dataset collection - not an official evaluation; its returns are not leaderboard scores",
        "harness_version": prov["harness_version"],
        "agent": agent.name or agent.spec,
        "agent_sha256": agent.sha256 or "",
        "protocol_id": source.id,
        "protocol_sha256": source.sha256(),
        "collection_protocol_id": derived.id,
        "collection_protocol_sha256": derived.sha256(),
        "action_noise": float(noise),
        "seed_base": derived.seed_base,
        "episodes_per_task": derived.episodes_per_task,
        "max_steps": derived.max_steps,
        "n_episodes": len(good),
        "n_episodes_failed": len(failed),
        "n_steps": len(dataset),
        "observation": "state (float32), as the protocol's adapter exposes it",
        "details": {
            "agent": agent.identity(),
            "source_protocol": source.model_dump(mode="json"),
            "collection_protocol": derived.model_dump(mode="json"),
            "provenance": prov,
            "summary": {"created_at": summary.get("created_at"), "finished_at": summary.get("finished_at"),
                        "scores": summary.get("scores")},
            "failed_episodes": [{"task": r.task, "episode_index": r.episode_index, "seed": r.seed,
                                 "error_kind": r.error_kind, "error": r.error} for r in failed],
        },
    }
    table = {
        "task": np.array([r.task for r in good]),
        "episode_index": np.array([r.episode_index for r in good], dtype=np.int64),
        "seed": np.array([r.seed for r in good], dtype=np.int64),
        "length": np.array([len(kept[r.key][1]) for r in good], dtype=np.int64),
        "return": np.array([r.total_return for r in good], dtype=np.float64),
        "success": np.array([-1 if r.success is None else int(r.success) for r in good], dtype=np.int8),
        "start": np.cumsum([0] + [len(kept[r.key][1]) for r in good[:-1]]).astype(np.int64),
    }
    path = write_d4rl(target, dataset, metadata=metadata, episode_table=table,
                      step_infos={"episode": np.concatenate(episode_of_step)})
    return CollectResult(path=path, protocol=derived, n_episodes=len(good), n_steps=len(dataset),
                         n_failed=len(failed), metadata=metadata)
