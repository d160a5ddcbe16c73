"""Which episodes a verification re-runs: how many (from the detection it must guarantee) and which ones
(from a server secret, so a submitter cannot know them in advance).

Sample size. A bundle of N episodes of which K = ceil(f·N) are fabricated is caught when the sample of n
episodes, drawn without replacement, contains at least one of them. The number of fabricated episodes in
the sample is hypergeometric, so

    P(catch) = 1 - C(N-K, n) / C(N, n)

and n is the smallest size with P(catch) >= p. More than K fabricated episodes are caught at least as
often, so the guarantee reads: "a bundle with >= f of its episodes fabricated is caught with probability
>= p" (for a deterministic policy, where one re-run episode that differs is enough to catch it).
Examples (f = 10%, p = 95%): N = 50 -> 22 episodes, N = 500 -> 28, N -> infinity: 29 (0.9^29 < 0.05).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

from scipy.stats import hypergeom

EpisodeKey = tuple[str, int]


class SampleDescription(TypedDict):
    """What a sample guarantees (stored with its job as ``sampling``)."""

    population: int
    size: int
    fraction: float
    power: float
    achieved_power: float
    guarantee: str


@dataclass(frozen=True)
class SamplingPolicy:
    """The guarantee a protocol's verification gives: >= ``fraction`` fabricated caught with >= ``power``."""

    fraction: float = 0.10
    power: float = 0.95
    max_episodes: int | None = None  # a cap for very expensive protocols (weakens the guarantee: it is recorded)

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"verification fraction {self.fraction} must be in (0, 1]")
        if not 0 < self.power < 1:
            raise ValueError(f"verification power {self.power} must be in (0, 1)")
        if self.max_episodes is not None and self.max_episodes < 1:
            raise ValueError("max_episodes must be at least 1")


def catch_probability(population: int, fabricated: int, sample: int) -> float:
    """P(a sample of ``sample`` of ``population`` episodes holds >= 1 of the ``fabricated`` ones)."""
    if fabricated <= 0 or sample <= 0:
        return 0.0
    if sample > population - fabricated:
        return 1.0
    return float(1.0 - hypergeom(population, fabricated, sample).pmf(0))


def sample_size(population: int, policy: SamplingPolicy) -> int:
    """The smallest n whose sample catches a bundle with ceil(fraction·population) fabricated episodes with
    probability >= power (capped by ``policy.max_episodes``)."""
    if population < 1:
        raise ValueError("a bundle has at least one episode")
    fabricated = max(1, math.ceil(policy.fraction * population - 1e-9))
    low, high = 1, population  # catch_probability is increasing in n; the whole population always catches
    while low < high:
        middle = (low + high) // 2
        if catch_probability(population, fabricated, middle) >= policy.power:
            high = middle
        else:
            low = middle + 1
    return min(low, policy.max_episodes) if policy.max_episodes else low


def _rank(secret: bytes, submission_id: int, attempt: int, key: EpisodeKey) -> bytes:
    message = f"vla-bench-verify|{submission_id}|{attempt}|{key[0]}|{key[1]}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def choose_sample(secret: bytes, submission_id: int, attempt: int, keys: Iterable[EpisodeKey],
                  size: int) -> list[EpisodeKey]:
    """``size`` episodes ranked first by HMAC(secret, submission, attempt, episode): a pure function of its
    inputs (re-derivable for an audit), unpredictable without the secret, and fresh for every attempt."""
    ranked = sorted(keys, key=lambda key: _rank(secret, submission_id, attempt, key))
    return sorted(ranked[:size])


def describe(population: int, size: int, policy: SamplingPolicy) -> SampleDescription:
    """What a sample guarantees, as stored with the job and shown with the evidence."""
    fabricated = max(1, math.ceil(policy.fraction * population - 1e-9))
    achieved = catch_probability(population, fabricated, size)
    return {
        "population": population, "size": size, "fraction": policy.fraction, "power": policy.power,
        "achieved_power": round(achieved, 6),
        "guarantee": (f"a bundle with >= {policy.fraction:.0%} of its {population} episodes fabricated "
                      f"(>= {fabricated}) is caught with probability {achieved:.1%}"),
    }
