"""``vla-bench compare --sequential``: run two agents on the same planned episodes until the test decides.

Rounds of ``step`` episodes per task are run for each agent (each agent's run is an ordinary, resumable,
unofficial bundle under ``OUT/a`` and ``OUT/b``); after every round the pairs are fed, in the fixed order
(episode 0 of every task, then episode 1, ...), to a fresh :class:`SequentialTest`, whose decision is the
first crossing in that order. The loop stops once decided or when the protocol's episodes run out.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.eval_config import EvalConfig
from vla_bench.harness.runner import run_evaluation
from vla_bench.scoring.sequential import SequentialTest
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.errors import UserError


def _won(record: EpisodeRecord) -> bool:
    return bool(record.success) and not record.error


def ordered_pairs(protocol: Protocol, a: list[EpisodeRecord],
                  b: list[EpisodeRecord]) -> list[tuple[tuple[str, int], bool, bool]]:
    """(key, A won, B won) of the episodes both ran, interleaving tasks: the order fixed before any outcome."""
    index_a, index_b = {r.key: r for r in a}, {r.key: r for r in b}
    keys = sorted(set(index_a) & set(index_b), key=lambda k: (k[1], protocol.task_names.index(k[0])))
    return [(key, _won(index_a[key]), _won(index_b[key])) for key in keys]


def sequential_comparison(protocol: Protocol, agent_a: LoadedAgent, agent_b: LoadedAgent, out: Path, *,
                          alpha: float, base: EvalConfig, max_per_task: int | None = None,
                          log: Callable[[str], object] = lambda line: sys.stderr.write(line + "\n"),
                          ) -> dict[str, object]:
    if not protocol.has_success or protocol.primary_metric != "success_rate":
        raise UserError(f"--sequential decides between success rates; {protocol.id} scores "
                        f"{protocol.primary_metric}: compare two finished bundles instead")
    budget = min(max_per_task or protocol.episodes_per_task, protocol.episodes_per_task)
    step = max(1, math.ceil(10 / len(protocol.tasks)))  # ~10 pairs a round: few worker start-ups, little overshoot
    test, done = SequentialTest(alpha=alpha), 0
    records: tuple[list[EpisodeRecord], list[EpisodeRecord]] = ([], [])
    while done < budget and test.decision is None:
        done = min(budget, done + step)
        runs = []
        for agent, folder in ((agent_a, out / "a"), (agent_b, out / "b")):
            options = base.replace(limit_episodes=done, resume=(folder / "summary.json").exists(), progress=False)
            runs.append(run_evaluation(protocol, agent, folder, options).records)
        records = (runs[0], runs[1])
        test = SequentialTest(alpha=alpha)
        for _, won_a, won_b in ordered_pairs(protocol, *records):
            if test.add(won_a, won_b) is not None:
                break
        log(f"{done}/{budget} episodes per task: {test.pairs} pairs, only A {test.a_wins}, only B {test.b_wins}, "
            f"e-value {math.exp(test.log_e):.3g} (decides at {1 / alpha:g})")
    result: dict[str, object] = {"kind": "sequential decision (not a score)", "protocol": protocol.id,
                                 "a": agent_a.name, "b": agent_b.name, **test.as_dict(),
                                 "pairs_run": len(ordered_pairs(protocol, *records)),
                                 "max_pairs": budget * len(protocol.tasks),
                                 "bundles": [str(out / "a"), str(out / "b")]}
    return result


def decision_line(result: Mapping[str, object]) -> str:
    used, most = result["pairs_used"], result["max_pairs"]
    if result["decision"] == "undecided":
        return (f"undecided after {used} of {most} paired episodes: no difference shown at alpha = {result['alpha']:g} "
                "within the budget (not evidence that there is none)")
    better = result["b"] if result["decision"] == "B better" else result["a"]
    return (f"decision: {better} ({result['decision']}) after {used} of {most} paired episodes; "
            f"false-difference rate <= {result['alpha']:g} at any stopping time (e-value {result['e_value']:.3g} >= "
            f"{result['threshold']:g}; only A {result['a_only']}, only B {result['b_only']})")
