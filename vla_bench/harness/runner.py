"""One evaluation run: plan, resume, execute, stream records, score, write the bundle."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import JsonValue

from vla_bench.agents.policy import LoadedAgent, is_batched
from vla_bench.harness import provenance
from vla_bench.harness.abort import AbortWatch
from vla_bench.harness.bundle import (
    EPISODES_FILE,
    PROTOCOL_FILE,
    SUMMARY_FILE,
    EpisodeLog,
    build_summary,
    now_iso,
    read_bundle,
    read_episodes,
    write_json_atomic,
    write_summary,
)
from vla_bench.harness.eval_config import EvalConfig
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.executors import make_executor
from vla_bench.harness.progress import RunProgress
from vla_bench.harness.results import Score, headline, per_task
from vla_bench.harness.run_report import write_run_report
from vla_bench.protocols.plan import limited_plan, shard_plan
from vla_bench.runtimes.resolve import require as require_runtime
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError
from vla_bench.spec.summary import Summary


@dataclass
class EvalResult:
    protocol: Protocol
    summary_model: Summary
    records: list[EpisodeRecord] = field(default_factory=list)
    directory: Path | None = None

    @property
    def summary(self) -> dict[str, Any]:
        """The run's ``summary.json`` as JSON (for callers of ``vla_bench.evaluate``); :attr:`summary_model` is
        the typed one."""
        return self.summary_model.to_json()

    @property
    def scores(self) -> dict[str, Any]:
        """The ``scores`` block as JSON (``None`` while no episode finished, as in summary.json)."""
        scores: dict[str, Any] = self.summary["scores"]
        return scores

    @property
    def score(self) -> Score | None:
        """The primary metric over all tasks with its 95% interval (``float(result.score)`` is the number)."""
        return headline(self.summary_model.scores)

    @property
    def task_scores(self) -> dict[str, Score]:
        return per_task(self.summary_model.scores)


def default_out_dir(protocol: Protocol, agent: LoadedAgent) -> Path:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{protocol.id}--{agent.name}").strip("_")
    return Path("runs") / f"{slug}--{time.strftime('%Y%m%d-%H%M%S')}"


def _check_resumable(directory: Path, protocol: Protocol, agent: LoadedAgent, official: bool,
                     shard: tuple[int, int] | None) -> str:
    """The original start time of the run in ``directory``, after checking it is this same run."""
    summary = read_bundle(directory).summary_model if (directory / SUMMARY_FILE).exists() else None
    if summary is None:
        raise UserError(f"--resume: {directory} holds no run to resume (no {SUMMARY_FILE})")
    if summary.protocol.sha256 != protocol.sha256():
        raise UserError(f"--resume: {directory} was run under {summary.protocol.id} "
                        f"(hash {summary.protocol.sha256[:12]}), not {protocol.id}")
    previous = summary.agent
    if previous.spec != agent.spec or previous.sha256 != agent.sha256:
        raise UserError(f"--resume: {directory} was run with agent {previous.spec!r} "
                        f"(sha256 {previous.sha256}), not {agent.spec!r} (sha256 {agent.sha256})")
    training = agent.training.to_json() if agent.training else None
    before = previous.training.model_dump() if previous.training else None
    if before != training:
        raise UserError(f"--resume: {directory} was run as training run {before}, not {training} "
                        "(--training-group/--training-seed)")
    if summary.official != official:
        raise UserError("--resume: the run was started with a different --limit-episodes")
    if summary.run.extra("shard") != (list(shard) if shard else None):
        raise UserError(f"--resume: the run was started as shard {summary.run.extra('shard')}, not {shard}")
    return summary.created_at


def run_evaluation(protocol: Protocol, agent: LoadedAgent, out_dir: Path | None, options: EvalConfig) -> EvalResult:
    started_at = options.started_at if options.started_at is not None else time.time()
    official = options.limit_episodes is None and options.action_noise == 0
    plan = limited_plan(protocol, options.limit_episodes)
    if options.shard is not None:
        plan = shard_plan(plan, *options.shard)
    workers, envs_per_worker = options.workers, options.envs_per_worker
    if agent.shared and not is_batched(agent.factory()):
        workers, envs_per_worker = 1, 1  # one stateful policy object can only play one episode at a time
    # the benchmark's runtime: its env workers may run in another interpreter; a missing one stops here, before
    # anything is written (this process never imports the adapter: only the workers do)
    runtime = require_runtime(protocol.adapter)

    created_at = now_iso()
    records: list[EpisodeRecord] = []
    log: EpisodeLog | None = None
    if out_dir is not None:
        episodes_path = out_dir / EPISODES_FILE
        if options.resume:
            created_at = _check_resumable(out_dir, protocol, agent, official, options.shard)
            records = read_episodes(episodes_path, repair=True)
        elif episodes_path.exists() and episodes_path.stat().st_size > 0:
            raise UserError(f"{out_dir} already holds a run: add --resume to finish it, or choose another --out")
        out_dir.mkdir(parents=True, exist_ok=True)
    planned_keys = {spec.key for spec in plan}
    done_keys = {record.key for record in records}
    if not done_keys <= planned_keys:
        raise UserError(f"--resume: {out_dir} holds episodes outside this run's plan")
    pending = [spec for spec in plan if spec.key not in done_keys]

    run_info: dict[str, JsonValue] = {
        "executor": options.executor, "workers": workers, "envs_per_worker": envs_per_worker,
        "limit_episodes": options.limit_episodes, "policy_timeout_s": options.policy_timeout,
        "env_timeout_s": options.env_timeout, "action_noise": options.action_noise,
        "shard": list(options.shard) if options.shard else None}
    run_info["runtime"] = {"kind": runtime.kind, "python": runtime.python}
    config = ExecutorConfig.from_run(
        options, python=runtime.python, isolated=runtime.isolated, worker_env=runtime.worker_env(),
        workers=workers, envs_per_worker=envs_per_worker,
        record_keys=frozenset(spec.key for spec in plan[: options.record]),
        video_dir=(out_dir / "videos") if out_dir is not None and options.record else None,
    )
    executor = make_executor(options.executor, protocol, agent, config, ray_address=options.ray_address)
    prov: dict[str, JsonValue] = {}

    def summary_now(final: bool) -> Summary:
        prov["simulator"] = executor.simulator
        if final:
            run_info["policy_placement"] = executor.placement
        return build_summary(protocol=protocol, agent=agent.identity(), provenance=prov, run=run_info,
                             records=records if final else None, n_planned=len(plan), official=official,
                             created_at=created_at)

    def begin() -> None:
        """The bundle's first files (``status: running``). The executor calls this at its first reply, so that
        provenance (git), the schema check and the writes do not delay the first env steps; before any record.
        Called again at the end in case the run stopped before that: a no-op then."""
        nonlocal log
        if prov:
            return
        prov.update(provenance.collect())
        if out_dir is not None:
            write_json_atomic(out_dir / PROTOCOL_FILE, protocol.model_dump(mode="json"))
            write_summary(out_dir / SUMMARY_FILE, summary_now(final=False))
            log = EpisodeLog(out_dir / EPISODES_FILE)

    label = f"{protocol.id} · {agent.name}"
    abort = AbortWatch()
    try:
        with abort.guard(), RunProgress(label, len(plan), len(records), enabled=options.progress) as progress:

            def sink(record: EpisodeRecord) -> None:
                begin()  # the bundle's first files precede every record
                if config.video_dir is not None and record.key in config.record_keys:  # as lerobot-eval: in results
                    record.video = f"videos/{record.task}-{record.episode_index:04d}.mp4"
                if log is not None:
                    log.write(record)
                records.append(record)
                progress.advance(error=bool(record.error))

            executor.run(pending, sink, begin)
    finally:
        begin()
        if log is not None:
            log.close()
        if abort.reason is not None:
            run_info["aborted"] = abort.reason
        run_info["timings"] = {**_timings(started_at, executor.first_step_at)}
        summary = summary_now(final=True)
        if abort.reason is not None:
            summary = summary.model_copy(update={"status": "aborted"})
        if out_dir is not None:
            write_summary(out_dir / SUMMARY_FILE, summary)
            write_run_report(out_dir, protocol, summary, records)
    return EvalResult(protocol=protocol, summary_model=summary, records=records, directory=out_dir)


def _timings(started_at: float, first_step_at: float | None) -> dict[str, float | None]:
    """Start-up and wall time of this invocation: seconds from ``started_at`` to the first env step (None when
    no step was taken) and to now (before the report is written)."""
    now = time.time()
    first = None if first_step_at is None else round(max(0.0, first_step_at - started_at), 3)
    return {"first_step_s": first, "wall_s": round(now - started_at, 3)}
