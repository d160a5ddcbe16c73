"""Comparing re-run episodes with the claimed ones, episode by episode; pure (no database, no simulator).

Deterministic policies (the default): each re-run episode must have the claimed success (and completed
subtasks, for chains) and a return within ``|R' - R| <= rel·|R| + abs`` (1e-6·|R| + 1e-3 by default; the
measured spread of re-running the same ONNX policy is reported by ``bench/verification_cost.py``). One
episode outside that fails the verification.

Stochastic policies (``agent.details.stochastic: true`` in the bundle): re-run outcomes are new draws, so
they are compared as a whole with an exact one-sided sign test on the paired episodes: successes claimed
but not reproduced against the reverse (McNemar's exact test), and returns claimed higher than re-run
against the reverse. Under an honest claim each discordant pair goes either way with probability 1/2, so
the test's false-alarm rate is at most ``alpha`` (split evenly between the two tests when both apply).

A mismatch is *inconclusive* instead of failed when the verifier's simulator or outcome-relevant packages
differ from the bundle's (named in the message), or when the verifier's own environment failed or the policy
timed out in the re-run. An episode the bundle itself records as an error is no evidence either way: errors
count as failures, so claiming one can only lower a score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from scipy.stats import binom

from vla_bench.spec import EpisodeRecord

# Packages whose version can change an episode's numbers (besides the simulator versions the env workers report).
OUTCOME_PACKAGES = ("mujoco", "gymnasium", "gymnasium-robotics", "metaworld", "robosuite", "gym-hil", "numpy",
                    "onnxruntime")
# a re-run episode that ends like this says nothing about the claim (the verifier's machine or the endpoint failed)
VERIFIER_FAULTS = frozenset({"env_error", "env_crash", "env_timeout", "policy_timeout"})


@dataclass(frozen=True)
class Tolerance:
    rel: float = 1e-6
    abs: float = 1e-3

    def allows(self, claimed: float, rerun: float) -> bool:
        return abs(rerun - claimed) <= self.rel * abs(claimed) + self.abs


class EpisodeRow(TypedDict):
    """One re-run episode beside its claim, as the evidence shows it."""

    task: str
    episode_index: int
    claimed_return: float | None
    rerun_return: float | None
    abs_diff: float | None
    claimed_success: bool | None
    rerun_success: bool | None
    claimed_length: int
    rerun_length: int
    rerun_error_kind: str | None
    rerun_error: str | None
    matches: bool
    differs_in: list[str]


class SignTests(TypedDict):
    """The stochastic comparison: each test's counts and ``p_value`` at a Bonferroni level."""

    kind: str
    alpha: float
    level_per_test: float
    tests: dict[str, dict[str, float]]


Versions = dict[str, list[object]]  # {name: [bundle's, verifier's]}: versions are whatever JSON each side wrote


Outcome = Literal["verified", "verification_failed", "inconclusive"]


@dataclass
class Verdict:
    outcome: Outcome
    message: str
    episodes: list[EpisodeRow] = field(default_factory=list)
    mismatched: list[tuple[str, int]] = field(default_factory=list)
    max_abs_return_diff: float | None = None
    version_differences: Versions = field(default_factory=dict)
    test: SignTests | None = None


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def version_differences(claimed: Mapping[str, object], verifier: Mapping[str, object]) -> Versions:
    """{name: [bundle's, verifier's]} for the simulator versions and outcome-relevant packages that differ."""
    out: Versions = {}
    claimed_sim, verifier_sim = _mapping(claimed.get("simulator")), _mapping(verifier.get("simulator"))
    for name in sorted(set(claimed_sim) | set(verifier_sim)):
        if isinstance(claimed_sim.get(name), dict) or isinstance(verifier_sim.get(name), dict):
            continue  # where the env worker ran (interpreter path ...), not a version of anything
        if claimed_sim.get(name) != verifier_sim.get(name):
            out[f"simulator:{name}"] = [claimed_sim.get(name), verifier_sim.get(name)]
    claimed_pkg, verifier_pkg = _mapping(claimed.get("packages")), _mapping(verifier.get("packages"))
    for name in OUTCOME_PACKAGES:
        if name in claimed_pkg and claimed_pkg.get(name) != verifier_pkg.get(name):
            out[name] = [claimed_pkg.get(name), verifier_pkg.get(name)]
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _row(claimed: EpisodeRecord, rerun: EpisodeRecord, tolerance: Tolerance) -> EpisodeRow:
    c_ret, r_ret = _finite(claimed.total_return), _finite(rerun.total_return)
    diff = abs(r_ret - c_ret) if c_ret is not None and r_ret is not None else None
    same_return = (c_ret is None and r_ret is None) or (diff is not None and tolerance.allows(c_ret, r_ret))  # type: ignore[arg-type]
    reasons = []
    if not same_return:
        reasons.append("return")
    if claimed.success != rerun.success:
        reasons.append("success")
    if claimed.subtasks_completed != rerun.subtasks_completed:
        reasons.append("subtasks_completed")
    if (claimed.error_kind is None) != (rerun.error_kind is None):
        reasons.append("error")
    if claimed.error_kind is not None:
        reasons = []  # an episode claimed as failed by an error only lowers the claim: nothing to catch there
    return {
        "task": claimed.task, "episode_index": claimed.episode_index,
        "claimed_return": c_ret, "rerun_return": r_ret, "abs_diff": diff,
        "claimed_success": claimed.success, "rerun_success": rerun.success,
        "claimed_length": claimed.length, "rerun_length": rerun.length,
        "rerun_error_kind": rerun.error_kind, "rerun_error": (rerun.error or "")[:300] or None,
        "matches": not reasons, "differs_in": reasons,
    }


def _names(keys: list[tuple[str, int]], limit: int = 10) -> str:
    shown = ", ".join(f"{task!r} #{index}" for task, index in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def compare(claimed: Mapping[tuple[str, int], EpisodeRecord], rerun: list[EpisodeRecord], *,
            claimed_provenance: Mapping[str, object], verifier_provenance: Mapping[str, object],
            stochastic: bool = False, tolerance: Tolerance | None = None, alpha: float = 0.01) -> Verdict:
    """The verdict on a submission from its re-run sample."""
    tolerance = tolerance or Tolerance()
    rows = [_row(claimed[r.key], r, tolerance) for r in sorted(rerun, key=lambda r: r.key)]
    diffs = [row["abs_diff"] for row in rows if row["abs_diff"] is not None]
    versions = version_differences(claimed_provenance, verifier_provenance)
    verdict = Verdict(outcome="verified", message="", episodes=rows, version_differences=versions,
                      max_abs_return_diff=max(diffs) if diffs else None)
    faults = [(row["task"], row["episode_index"]) for row in rows if row["rerun_error_kind"] in VERIFIER_FAULTS]
    if faults:
        verdict.outcome = "inconclusive"
        verdict.message = f"the verifier's environment failed on {_names(faults)}; re-queue the verification"
        return verdict
    if stochastic:
        return _stochastic(verdict, claimed, rerun, alpha, versions)
    verdict.mismatched = [(row["task"], row["episode_index"]) for row in rows if not row["matches"]]
    if not verdict.mismatched:
        verdict.message = f"all {len(rows)} re-run episodes match (max |ΔR| {verdict.max_abs_return_diff or 0:.3g})"
        return verdict
    what = (f"{len(verdict.mismatched)} of {len(rows)} re-run episodes differ from the bundle: "
            f"{_names(verdict.mismatched)}")
    return _judge(verdict, what, versions)


def _judge(verdict: Verdict, what: str, versions: Versions) -> Verdict:
    if versions:
        listed = "; ".join(f"{name} {a} (bundle) vs {b} (verifier)" for name, (a, b) in versions.items())
        verdict.outcome = "inconclusive"
        verdict.message = f"{what}, but the verifier runs different versions that can change outcomes: {listed}"
    else:
        verdict.outcome = "verification_failed"
        verdict.message = what
    return verdict


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact p-value P(X >= wins), X ~ Binomial(wins + losses, 1/2); 1.0 without discordant pairs."""
    n = wins + losses
    return float(binom.sf(wins - 1, n, 0.5)) if n else 1.0


def _stochastic(verdict: Verdict, claimed: Mapping[tuple[str, int], EpisodeRecord], rerun: list[EpisodeRecord],
                alpha: float, versions: Versions) -> Verdict:
    pairs = [(claimed[r.key], r) for r in rerun]
    tests: dict[str, dict[str, float]] = {}  # test -> its counts and p_value
    if any(c.success is not None for c, _ in pairs):
        b = sum(1 for c, r in pairs if c.success and not r.success)
        c_ = sum(1 for c, r in pairs if not c.success and r.success)
        tests["success"] = {"claimed_only": b, "rerun_only": c_, "p_value": sign_test(b, c_)}
    returns = [(c.total_return, r.total_return) for c, r in pairs
               if _finite(c.total_return) is not None and _finite(r.total_return) is not None]
    higher = sum(1 for c, r in returns if c > r)
    lower = sum(1 for c, r in returns if c < r)
    tests["return"] = {"claimed_higher": higher, "claimed_lower": lower, "p_value": sign_test(higher, lower)}
    level = alpha / len(tests)  # Bonferroni: the family's false-alarm rate stays <= alpha
    verdict.test = {"kind": "exact one-sided sign test (McNemar exact for success)", "alpha": alpha,
                    "level_per_test": level, "tests": tests}
    rejected = [name for name, test in tests.items() if test["p_value"] <= level]
    if not rejected:
        verdict.message = (f"stochastic policy: the {len(pairs)} re-run episodes are consistent with the claims "
                           f"(false-alarm rate <= {alpha:g})")
        return verdict
    detail = ", ".join(f"{name} p = {tests[name]['p_value']:.2g}" for name in rejected)
    verdict.mismatched = [c.key for c, r in pairs if (c.success and not r.success)
                          or (_finite(c.total_return) is not None and _finite(r.total_return) is not None
                              and c.total_return > r.total_return)]
    return _judge(verdict, f"stochastic policy: the claims are better than the re-run sample ({detail} <= {level:g})",
                  versions)
