"""Robustness scores: per axis/level score and paired drop from the clean arm, aggregate robustness score."""

from __future__ import annotations

import numpy as np
import pytest

from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.robustness import PairingError, markdown, robustness_scores
from vla_bench.spec import EpisodeRecord, Protocol

N = 40


def _protocol() -> Protocol:
    return Protocol.model_validate({
        "id": "demo/pick-robust@v1", "description": "d", "adapter": "metaworld", "episodes_per_task": N,
        "max_steps": 10, "observation": {"mode": "state"}, "success": {"kind": "info_flag", "key": "success"},
        "primary_metric": "success_rate",
        "tasks": [{"name": "a", "env_id": "reach-v3"}, {"name": "b", "env_id": "push-v3"}],
        "perturbation": {"clean_protocol": "demo/pick@v1", "axes": [
            {"name": "noise", "description": "n", "levels": [{"image_noise": 5.0}, {"image_noise": 25.0}]},
            {"name": "language", "description": "l", "levels": [{"paraphrase": 1}]}]},
    })


def _records(protocol: Protocol, outcomes: dict[str, list[bool]]) -> list[EpisodeRecord]:
    records = []
    for task, successes in outcomes.items():
        for index, success in enumerate(successes):
            spec = episode_spec(protocol, task, index)
            records.append(EpisodeRecord(task=task, episode_index=index, seed=spec.seed, init_index=None,
                                         total_return=0.0, length=10, success=success))
    return records


def _outcomes(rng: np.random.Generator) -> dict[str, list[bool]]:
    clean = {"a": list(rng.random(N) < 0.8), "b": list(rng.random(N) < 0.6)}
    # level 1 of noise: identical to clean; level 2: every other clean success lost; language: all lost
    return {**clean,
            **{f"{t}.noise.1": clean[t] for t in clean},
            **{f"{t}.noise.2": [s and i % 2 == 0 for i, s in enumerate(clean[t])] for t in clean},
            **{f"{t}.language.1": [False] * N for t in clean}}


def test_drops_are_paired_on_identical_episodes() -> None:
    protocol = _protocol()
    outcomes = _outcomes(np.random.default_rng(1))
    result = robustness_scores(protocol, _records(protocol, outcomes))
    clean = np.mean([np.mean(outcomes["a"]), np.mean(outcomes["b"])])
    assert result["clean"]["mean"] == pytest.approx(clean)
    same, halved = result["axes"]["noise"]["levels"]
    # an arm identical to the clean arm has a drop of exactly 0 in every resample: a paired interval [0, 0]
    assert same["drop"] == {"mean": 0.0, "ci95": [0.0, 0.0]}
    lost = np.mean([np.mean([s and i % 2 == 1 for i, s in enumerate(outcomes[t])]) for t in ("a", "b")])
    assert halved["drop"]["mean"] == pytest.approx(lost)
    low, high = halved["drop"]["ci95"]
    assert 0 < low < lost < high
    # unpaired, the interval of a difference of two proportions this size is wider than the paired one
    unpaired_half_width = 1.96 * np.sqrt(clean * (1 - clean) / (2 * N) + (clean - lost) * (1 - clean + lost) / (2 * N))
    assert high - low < 2 * unpaired_half_width
    language = result["axes"]["language"]["levels"][0]
    assert language["score"]["mean"] == 0.0 and language["drop"]["mean"] == pytest.approx(clean)
    # robustness = 100 x mean over axes of mean retention: noise (1 + r2) / 2, language 0
    r2 = (clean - lost) / clean
    score, interval = result["robustness"]["mean"], result["robustness"]["ci95"]
    assert score == pytest.approx(100 * ((1 + r2) / 2 + 0) / 2)
    assert score is not None and interval is not None
    low, high = interval
    assert low <= score <= high
    text = markdown(result)
    assert "| noise | 2 |" in text and "Robustness score" in text


def test_the_clean_arm_may_come_from_the_clean_protocols_bundle() -> None:
    protocol = _protocol()
    outcomes = _outcomes(np.random.default_rng(2))
    clean_protocol = Protocol.model_validate({**protocol.model_dump(), "id": "demo/pick@v1", "perturbation": None,
                                              "tasks": [t.model_dump() for t in protocol.tasks[:2]]})
    inside = robustness_scores(protocol, _records(protocol, outcomes))
    perturbed_only = {k: v for k, v in outcomes.items() if "." in k}
    outside = robustness_scores(protocol, _records(protocol, perturbed_only),
                                clean_records=_records(clean_protocol, {"a": outcomes["a"], "b": outcomes["b"]}))
    assert outside == inside


def test_episodes_that_are_not_the_same_are_refused() -> None:
    protocol = _protocol()
    records = _records(protocol, _outcomes(np.random.default_rng(3)))
    records[-1].seed += 1
    with pytest.raises(PairingError, match="not the same episode"):
        robustness_scores(protocol, records)


def test_the_aggregate_is_undefined_when_the_clean_arm_never_succeeds() -> None:
    protocol = _protocol()
    outcomes = {k: [False] * N for k in _outcomes(np.random.default_rng(4))}
    result = robustness_scores(protocol, _records(protocol, outcomes))
    assert result["robustness"]["mean"] is None and "not positive" in result["robustness"]["note"]


def test_only_episodes_every_arm_ran_are_paired() -> None:
    protocol = _protocol()
    outcomes = _outcomes(np.random.default_rng(5))
    outcomes["a.language.1"] = outcomes["a.language.1"][:10]  # a limited run of one arm
    result = robustness_scores(protocol, _records(protocol, outcomes))
    assert result["n_pairs"] == {"a": 10, "b": N}
