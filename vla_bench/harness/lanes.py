"""Lanes: the requests an env worker is sent, and what is done with its replies, per policy placement.

A lane is a group of a worker's episode slots with at most one request in flight. With the policy in the
orchestrator (:class:`CentralDriver`), a worker has two lanes: while the worker steps one lane's
environments, the orchestrator computes the other lane's actions, so neither side waits on the other. With
the policy in the worker (:class:`WorkerDriver`), one lane holds every slot and a request only names the
episodes to start: the worker runs them and answers with finished records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vla_bench.harness.central_policies import CentralPolicies
from vla_bench.harness.episode import Episode, EpisodeRules, trajectory_from_wire
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.harness.scheduling import EpisodeQueue
from vla_bench.harness.trajectory import Trajectory
from vla_bench.harness.worker_pool import Worker
from vla_bench.spec import EpisodeRecord
from vla_bench.spec.messages import (
    ActionItem,
    EndItem,
    Finished,
    Item,
    ItemError,
    PolicyHung,
    ResetItem,
    ResetResult,
    Result,
    RunItem,
    StepResult,
)

RecordSink = Callable[[EpisodeRecord], None]


@dataclass
class Lane:
    worker: Worker
    slot_ids: list[int]
    episodes: dict[int, Episode] = field(default_factory=dict)
    ended: list[int] = field(default_factory=list)  # slots whose recording must be closed
    sent_at: float = 0.0

    def free_slots(self) -> list[int]:
        return [s for s in self.slot_ids if s not in self.episodes]


def make_lanes(worker: Worker, envs: int, parts: int) -> list[Lane]:
    """The worker's ``envs`` slots (numbered after its index, so that slot ids are unique), in ``parts`` lanes."""
    ids = list(range(worker.index * envs, worker.index * envs + envs))
    parts = parts if envs > 1 else 1
    size = (envs + parts - 1) // parts
    return [Lane(worker, ids[i:i + size]) for i in range(0, envs, size)]


class Book:
    """Starting episodes from the queue and handing finished ones to the sink (both placements)."""

    def __init__(self, rules: EpisodeRules, config: ExecutorConfig, queue: EpisodeQueue, sink: RecordSink) -> None:
        self.rules, self.config, self.queue, self.sink = rules, config, queue, sink

    def start(self, lane: Lane) -> list[tuple[int, Episode, str | None]]:
        """Fill the lane's free slots: (slot, episode, video path or None) for each episode started."""
        started = []
        for slot in lane.free_slots():
            episode = self.queue.take(lane.worker)
            if episode is None:
                break
            lane.episodes[slot] = episode
            video = None
            if episode.spec.key in self.config.record_keys and self.config.video_dir is not None:
                episode.recording = True
                video = str(Path(self.config.video_dir) / f"{episode.spec.task}-{episode.spec.episode_index:04d}.mp4")
            started.append((slot, episode, video))
        return started

    def fail_hung(self, lane: Lane, hung: PolicyHung) -> None:
        """A worker whose policy call overran named the episodes it hung on before exiting: they fail."""
        what = "policy.reset took" if hung.reset else "policy took"
        for slot, length in zip(hung.slots, hung.lengths, strict=True):
            if slot in lane.episodes:
                where = "" if hung.reset else f" (at step {length})"
                self.finish(lane, slot, ("policy_timeout", f"{what} longer than the per-step limit of "
                                                           f"{hung.timeout:g} s{where}"), close_recording=False)

    def finish(self, lane: Lane, slot: int, error: tuple[str, str] | None = None, *,
               close_recording: bool = True) -> None:
        episode = lane.episodes[slot]
        record = episode.record(error)
        self.deliver(lane, slot, record, episode.finished_trajectory(record), close_recording=close_recording)

    def deliver(self, lane: Lane, slot: int, record: EpisodeRecord, trajectory: Trajectory | None, *,
                close_recording: bool = False) -> None:
        episode = lane.episodes.pop(slot)
        if episode.recording and close_recording:
            lane.ended.append(slot)
        if episode.attempt > 0:
            lane.worker.exclusive = False
        self.sink(record)
        if trajectory is not None and self.config.trajectory_sink is not None:
            self.config.trajectory_sink(record, trajectory)


class CentralDriver:
    """The policy in this process: the worker resets and steps; actions are computed here per lane."""

    lanes_per_worker = 2

    def __init__(self, book: Book, policies: CentralPolicies) -> None:
        self.book, self.policies = book, policies

    def items(self, lane: Lane) -> list[Item] | None:
        items: list[Item] = [EndItem(slot) for slot in lane.ended]
        lane.ended.clear()
        while True:
            resets: list[Item] = [ResetItem(slot, ep.spec, video) for slot, ep, video in self.book.start(lane)]
            live_before = len(lane.episodes)
            steps = self._steps(lane)
            items.extend(resets + steps)
            # Loop only when episodes failed on their policy call and freed slots with nothing sent yet:
            # each round either sends work or ends an episode, so this terminates.
            if resets or steps or len(lane.episodes) == live_before:
                break
        return items or None

    def _steps(self, lane: Lane) -> list[Item]:
        needing = [(slot, ep) for slot, ep in lane.episodes.items() if ep.needs_policy]
        if needing:
            for (slot, _), error in zip(needing, self.policies.act(lane.worker.index, needing), strict=True):
                if error is not None:
                    self.book.finish(lane, slot, error)
        items: list[Item] = []
        for slot, episode in lane.episodes.items():
            if episode.observation is not None and episode.chunk:
                items.append(ActionItem(slot, episode.next_action()))
        return items

    def on_result(self, lane: Lane, result: Result) -> None:
        episode = lane.episodes.get(result.slot)
        if episode is None:
            return
        if isinstance(result, StepResult):
            episode.env_seconds += time.perf_counter() - lane.sent_at
            if episode.on_step(result):
                self.book.finish(lane, result.slot)
        elif isinstance(result, ResetResult):
            episode.on_reset(result.task, result.observation)
            error = self.policies.reset(lane.worker.index, result.slot, episode)
            if error is not None:
                self.book.finish(lane, result.slot, error)
        elif isinstance(result, ItemError):
            self.book.finish(lane, result.slot, (result.kind, result.error), close_recording=False)

    def forget(self, lane: Lane, slot: int) -> None:
        self.policies.forget(lane.worker.index, slot)


class WorkerDriver:
    """The policy in the worker: requests name the episodes to start; replies bring finished records."""

    lanes_per_worker = 1

    def __init__(self, book: Book) -> None:
        self.book = book

    def items(self, lane: Lane) -> list[Item] | None:
        items: list[Item] = [RunItem(slot, ep.spec, video, ep.attempt) for slot, ep, video in self.book.start(lane)]
        return items if items or lane.episodes else None  # an empty batch: go on with the live episodes

    def on_result(self, lane: Lane, result: Result) -> None:
        if result.slot not in lane.episodes:
            return
        if isinstance(result, Finished):
            trajectory = trajectory_from_wire(result.trajectory) if result.trajectory is not None else None
            self.book.deliver(lane, result.slot, result.record, trajectory)
        elif isinstance(result, ItemError):
            self.book.finish(lane, result.slot, (result.kind, result.error), close_recording=False)

    def forget(self, lane: Lane, slot: int) -> None:
        pass


def hand_back(workers: list[Worker], lost: set[tuple[int, int]], queue: EpisodeQueue) -> None:
    """Take the episodes of these (worker index, slot) pairs off their lanes and queue them to run again."""
    for worker in workers:
        for lane in worker.lanes:
            for slot in [s for s in lane.episodes if (worker.index, s) in lost]:
                episode = lane.episodes.pop(slot)
                queue.put_back(Episode(episode.spec, episode.rules, episode.attempt))
