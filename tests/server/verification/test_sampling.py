"""Sample sizes from the detection guarantee (checked against exact counting), and secret-seeded samples."""

from __future__ import annotations

import math

import pytest

from vla_bench.server.verification.sampling import (
    SamplingPolicy,
    catch_probability,
    choose_sample,
    describe,
    sample_size,
)


def _exact_catch(population: int, fabricated: int, n: int) -> float:
    return 1 - math.comb(population - fabricated, n) / math.comb(population, n)


@pytest.mark.parametrize("population", [1, 10, 50, 137, 500, 2500])
@pytest.mark.parametrize(("fraction", "power"), [(0.1, 0.95), (0.05, 0.99), (0.3, 0.8)])
def test_the_sample_size_is_the_smallest_that_guarantees_the_power(population: int, fraction: float,
                                                                   power: float) -> None:
    n = sample_size(population, SamplingPolicy(fraction=fraction, power=power))
    fabricated = max(1, math.ceil(fraction * population))
    assert _exact_catch(population, fabricated, n) >= power
    if n > 1:
        assert _exact_catch(population, fabricated, n - 1) < power
    assert math.isclose(catch_probability(population, fabricated, n), _exact_catch(population, fabricated, n),
                        abs_tol=1e-9)


def test_the_issue_example_needs_about_thirty_episodes_and_under_ten_percent_of_mt10() -> None:
    policy = SamplingPolicy(fraction=0.10, power=0.95)
    assert sample_size(50, policy) == 22  # Hopper: 50 episodes
    assert sample_size(500, policy) == 28  # MT10: 10 tasks x 50 goals -> 5.6% re-run
    assert sample_size(10**6, policy) == 29  # the binomial limit: 0.9^29 < 0.05 < 0.9^28
    assert describe(500, 28, policy)["achieved_power"] >= 0.95


def test_a_cap_is_applied_and_its_weaker_guarantee_is_stated() -> None:
    policy = SamplingPolicy(fraction=0.10, power=0.95, max_episodes=5)
    assert sample_size(500, policy) == 5
    assert describe(500, 5, policy)["achieved_power"] < 0.5


def test_bad_policies_are_refused() -> None:
    for kwargs in ({"fraction": 0}, {"fraction": 1.5}, {"power": 1.0}, {"max_episodes": 0}):
        with pytest.raises(ValueError):
            SamplingPolicy(**kwargs)


def test_samples_are_fixed_by_the_secret_and_fresh_per_submission_and_attempt() -> None:
    keys = [(task, i) for task in ("a", "b") for i in range(50)]
    first = choose_sample(b"secret", 7, 1, keys, 10)
    assert first == choose_sample(b"secret", 7, 1, list(reversed(keys)), 10)  # order of the plan is irrelevant
    assert len(set(first)) == 10 and set(first) <= set(keys)
    others = [choose_sample(b"other", 7, 1, keys, 10), choose_sample(b"secret", 8, 1, keys, 10),
              choose_sample(b"secret", 7, 2, keys, 10)]
    assert all(other != first for other in others)


def test_every_episode_is_about_equally_likely_to_be_sampled() -> None:
    keys = [("t", i) for i in range(20)]
    counts = dict.fromkeys(keys, 0)
    for submission in range(2000):
        for key in choose_sample(b"s", submission, 1, keys, 5):
            counts[key] += 1
    # each key: Binomial(2000, 1/4) -> mean 500, sd ~19; +-100 is > 5 sd
    assert all(400 < c < 600 for c in counts.values()), counts
