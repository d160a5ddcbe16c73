"""Episode-by-episode comparison: deterministic tolerance, version differences, the stochastic exact test."""

from __future__ import annotations

import numpy as np

from vla_bench.server.verification.compare import Tolerance, compare, sign_test, version_differences
from vla_bench.spec import EpisodeRecord

PROV = {"simulator": {"mujoco": "3.3.0", "gymnasium": "1.4.0"}, "packages": {"mujoco": "3.3.0", "numpy": "1.26.4"}}


def _record(index: int, ret: float | None, success: bool | None = None, error_kind: str | None = None,
            task: str = "t") -> EpisodeRecord:
    return EpisodeRecord(task=task, episode_index=index, seed=index, init_index=None,
                         total_return=ret if ret is not None else float("nan"), length=10, success=success,
                         error_kind=error_kind, error="boom" if error_kind else None)


def _claims(records: list[EpisodeRecord]) -> dict[tuple[str, int], EpisodeRecord]:
    return {r.key: r for r in records}


def test_identical_and_within_tolerance_reruns_verify() -> None:
    claimed = _claims([_record(i, 1000.0 + i) for i in range(5)])
    rerun = [_record(i, 1000.0 + i + (5e-4 if i == 3 else 0.0)) for i in range(5)]
    verdict = compare(claimed, rerun, claimed_provenance=PROV, verifier_provenance=PROV)
    assert verdict.outcome == "verified" and verdict.mismatched == []
    assert verdict.max_abs_return_diff is not None and verdict.max_abs_return_diff < 1e-3


def test_the_tolerance_is_relative_plus_absolute() -> None:
    tol = Tolerance()
    assert tol.allows(1e6, 1e6 + 1.0009) and not tol.allows(1e6, 1e6 + 1.0011)
    assert tol.allows(0.0, 9e-4) and not tol.allows(0.0, 1.1e-3)


def test_an_altered_return_or_success_fails_naming_the_episodes() -> None:
    claimed = _claims([_record(i, 10.0, success=i % 2 == 0) for i in range(6)])
    rerun = [_record(i, 10.0 if i != 2 else 9.0, success=(i % 2 == 0) != (i == 5)) for i in range(6)]
    verdict = compare(claimed, rerun, claimed_provenance=PROV, verifier_provenance=PROV)
    assert verdict.outcome == "verification_failed"
    assert verdict.mismatched == [("t", 2), ("t", 5)]
    assert "'t' #2" in verdict.message and "'t' #5" in verdict.message
    by_index = {row["episode_index"]: row for row in verdict.episodes}
    assert by_index[2]["differs_in"] == ["return"] and by_index[5]["differs_in"] == ["success"]


def test_a_mismatch_under_other_simulator_versions_is_inconclusive_and_says_which() -> None:
    claimed = _claims([_record(0, 10.0)])
    other = {"simulator": {"mujoco": "3.3.1", "gymnasium": "1.4.0", "env_worker": {"python": "/x"}},
             "packages": {"mujoco": "3.3.1", "numpy": "1.26.4"}}
    assert version_differences(PROV, other) == {"simulator:mujoco": ["3.3.0", "3.3.1"], "mujoco": ["3.3.0", "3.3.1"]}
    verdict = compare(claimed, [_record(0, 11.0)], claimed_provenance=PROV, verifier_provenance=other)
    assert verdict.outcome == "inconclusive"
    assert "simulator:mujoco 3.3.0 (bundle) vs 3.3.1 (verifier)" in verdict.message
    # the same versions difference with matching outcomes did not change them: verified
    same = compare(claimed, [_record(0, 10.0)], claimed_provenance=PROV, verifier_provenance=other)
    assert same.outcome == "verified"


def test_a_verifier_environment_failure_is_inconclusive_not_failed() -> None:
    claimed = _claims([_record(0, 10.0)])
    verdict = compare(claimed, [_record(0, None, error_kind="env_crash")], claimed_provenance=PROV,
                      verifier_provenance=PROV)
    assert verdict.outcome == "inconclusive"


def test_the_sign_test_is_exact() -> None:
    assert sign_test(0, 0) == 1.0
    assert abs(sign_test(10, 0) - 0.5**10) < 1e-15
    assert abs(sign_test(8, 2) - sum(__import__("math").comb(10, k) for k in range(8, 11)) / 2**10) < 1e-12


def test_stochastic_honest_claims_raise_false_alarms_at_most_alpha_and_inflated_ones_are_caught() -> None:
    rng = np.random.default_rng(0)
    alpha, trials, alarms = 0.05, 400, 0
    for _ in range(trials):  # honest: claims and re-runs are independent draws of the same policy
        claimed = _claims([_record(i, float(rng.normal(100, 30)), success=bool(rng.random() < 0.6))
                           for i in range(30)])
        rerun = [_record(i, float(rng.normal(100, 30)), success=bool(rng.random() < 0.6)) for i in range(30)]
        verdict = compare(claimed, rerun, claimed_provenance=PROV, verifier_provenance=PROV, stochastic=True,
                          alpha=alpha)
        alarms += verdict.outcome != "verified"
    assert alarms / trials <= alpha + 0.03  # the exact test's rate is <= alpha; 0.03 covers the sampling noise
    claimed = _claims([_record(i, float(rng.normal(100, 30)) + 60, success=True) for i in range(30)])
    rerun = [_record(i, float(rng.normal(100, 30)), success=bool(rng.random() < 0.5)) for i in range(30)]
    inflated = compare(claimed, rerun, claimed_provenance=PROV, verifier_provenance=PROV, stochastic=True,
                       alpha=alpha)
    assert inflated.outcome == "verification_failed" and inflated.test is not None
    assert inflated.test["tests"]["success"]["p_value"] < alpha / 2


def test_an_episode_claimed_as_an_error_is_no_evidence_against_the_bundle() -> None:
    claimed = _claims([_record(0, None, error_kind="policy_timeout"), _record(1, 5.0)])
    verdict = compare(claimed, [_record(0, 7.0), _record(1, 5.0)], claimed_provenance=PROV, verifier_provenance=PROV)
    assert verdict.outcome == "verified"
    timed_out = compare(claimed, [_record(0, 7.0), _record(1, None, error_kind="policy_timeout")],
                        claimed_provenance=PROV, verifier_provenance=PROV)
    assert timed_out.outcome == "inconclusive" and "'t' #1" in timed_out.message
