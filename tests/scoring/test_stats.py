"""Newcombe's intervals and Holm's adjustment against published values and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep

from vla_bench.scoring.stats import holm_adjust, newcombe_independent_interval, newcombe_paired_interval


def test_paired_newcombe_matches_the_published_worked_example() -> None:
    # Cavo et al. (2012), paired 2x2 table [[59, 6], [16, 80]]; Fagerland, Lydersen & Laake (2017), ch. 8:
    # Newcombe square-and-add estimate -0.0621, 95% CI -0.1186 to -0.0046
    low, high = newcombe_paired_interval(59, 6, 16, 80)
    assert (low, high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)
    # and it is antisymmetric: swapping the two arms mirrors the interval
    assert newcombe_paired_interval(59, 16, 6, 80) == pytest.approx((0.0046, 0.1186), abs=5e-5)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(7, 34, 1, 34), (0, 16, 15, 72), (30, 50, 30, 50),
                                                    (50, 50, 0, 50), (3, 10, 9, 12)])
def test_independent_newcombe_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    expected = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb")
    assert newcombe_independent_interval(x1, n1, x2, n2) == pytest.approx(expected, abs=1e-12)


def test_holm_matches_statsmodels() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        pvalues = list(rng.uniform(0, 0.2, size=int(rng.integers(1, 12))))
        assert holm_adjust(pvalues) == pytest.approx(list(multipletests(pvalues, method="holm")[1]))
