"""The sequential test's error rates and savings, by simulation of paired binary outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from vla_bench.scoring.sequential import SequentialTest, log_e_value

ALPHA = 0.05
SIMULATIONS = 2000


def _pairs(rng: np.random.Generator, n: int, both: float, a_only: float, b_only: float) -> NDArray[np.bool_]:
    """n paired outcomes (A success, B success) drawn from the joint distribution of one pair."""
    kind = rng.choice(4, size=n, p=[both, a_only, b_only, 1 - both - a_only - b_only])
    return np.stack([(kind == 0) | (kind == 1), (kind == 0) | (kind == 2)], axis=1)


def _run(pairs: NDArray[np.bool_]) -> SequentialTest:
    test = SequentialTest(alpha=ALPHA)
    for a, b in pairs:
        if test.add(bool(a), bool(b)) is not None:
            break
    return test


def test_e_value_is_the_beta_mixture_bayes_factor() -> None:
    # K(b, a) = B(b+1/2, a+1/2) / B(1/2, 1/2) * 2^(a+b); by hand for b = 2, a = 0: (3/8) * 4 = 1.5
    assert math.exp(log_e_value(2, 0)) == pytest.approx(1.5)
    assert log_e_value(0, 0) == 0.0
    assert log_e_value(5, 1) == pytest.approx(log_e_value(1, 5))  # two-sided: symmetric in the arms


def test_false_positive_rate_is_at_most_alpha_under_the_null() -> None:
    rng = np.random.default_rng(2025)
    rejections = sum(_run(_pairs(rng, 200, both=0.3, a_only=0.2, b_only=0.2)).decision is not None
                     for _ in range(SIMULATIONS))
    rate = rejections / SIMULATIONS
    low, _ = stats.binomtest(rejections, SIMULATIONS).proportion_ci(0.95, method="exact")
    assert low <= ALPHA and rate <= ALPHA, rate  # Ville: P(K ever >= 1/alpha) <= alpha, for every stopping rule


def _fixed_size_power(pairs: NDArray[np.bool_], n: int) -> float:
    """Power of the exact McNemar test run once on the first n pairs of each simulated evaluation."""
    head = pairs[:, :n]
    a_only = (head[..., 0] & ~head[..., 1]).sum(axis=1)
    b_only = (head[..., 1] & ~head[..., 0]).sum(axis=1)
    p = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(a_only, b_only), a_only + b_only, 0.5))
    return float(np.mean((p < ALPHA) & (b_only > a_only)))


def test_it_stops_early_with_the_right_answer_and_saves_episodes_over_a_fixed_size_test() -> None:
    rng = np.random.default_rng(7)
    n_max = 150
    # B succeeds 70% of the time, A 40%: per pair both 0.3, only A 0.1, only B 0.4
    pairs = np.stack([_pairs(rng, n_max, both=0.3, a_only=0.1, b_only=0.4) for _ in range(SIMULATIONS)])
    runs = [_run(p) for p in pairs]
    power = np.mean([r.decision == "B better" for r in runs])
    wrong = np.mean([r.decision == "A better" for r in runs])
    used = np.mean([r.decided_at or n_max for r in runs])
    assert power >= 0.95 and wrong <= ALPHA
    # the fixed-size test with at least the same power needs more pairs than the sequential test uses on average
    fixed_n = next(n for n in range(5, n_max + 1) if _fixed_size_power(pairs, n) >= power)
    assert used < fixed_n, (used, fixed_n)
    assert used <= 0.8 * fixed_n  # the savings are real, not a rounding artefact
