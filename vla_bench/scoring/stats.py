"""Small, referenced statistics for comparing success rates: Newcombe's hybrid score intervals and Holm's step-down.

* :func:`newcombe_paired_interval`: the interval for a difference of two *paired* proportions (both agents
  on the same episodes), Newcombe (1998), "Improved confidence intervals for the difference between binomial
  proportions based on paired data", Stat. Med. 17:2635, method 10: square-and-add of the two Wilson
  intervals with the phi correction for the pairing. Checked against the worked example in Fagerland,
  Lydersen & Laake, *Statistical Analysis of Contingency Tables* (2017), ch. 8.
* :func:`newcombe_independent_interval`: the same for independent samples, Newcombe (1998), Stat. Med.
  17:873, method 10 (statsmodels' ``confint_proportions_2indep(method="newcomb")``).
* :func:`holm_adjust`: Holm (1979) step-down adjusted p-values (statsmodels' ``multipletests(method="holm")``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from vla_bench.scoring.scores import CONFIDENCE, wilson_interval


def newcombe_independent_interval(x1: int, n1: int, x2: int, n2: int,
                                  confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval for p1 - p2 from x1/n1 and x2/n2 (independent samples)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (max(-1.0, low), min(1.0, high))


def newcombe_paired_interval(both: int, first_only: int, second_only: int, neither: int,
                             confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Interval for p1 - p2 where p1 = (both + first_only)/n and p2 = (both + second_only)/n, on paired data."""
    n = both + first_only + second_only + neither
    if n == 0:
        return (math.nan, math.nan)
    x1, x2 = both + first_only, both + second_only
    p1, p2 = x1 / n, x2 / n
    l1, u1 = wilson_interval(x1, n, confidence)
    l2, u2 = wilson_interval(x2, n, confidence)
    phi = 0.0
    margins = (x1 * (n - x1) * x2 * (n - x2))
    if margins > 0:
        b = both * neither - first_only * second_only
        c = b - n / 2 if b > n / 2 else (b if b < 0 else 0.0)  # Newcombe's continuity-corrected phi
        phi = c / math.sqrt(margins)
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return (max(-1.0, low), min(1.0, high))


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order: reject H_i at level a when the adjusted p_i <= a."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted
