"""An anytime-valid sequential test of "do agents A and B succeed equally often?" on paired episodes.

Method (safe, anytime-valid inference; the idea behind STEP, Snyder et al., RSS 2025, arXiv 2503.10966, which
solves an offline optimisation for near-optimal boundaries; this is the simpler mixture e-process):

* Each episode is run by both agents with the same planned seed, giving a pair of 0/1 outcomes. Pairs where
  both succeed or both fail say nothing about which is better; a *discordant* pair is a win for B (only B
  succeeded) or for A.
* Null hypothesis H0: on every task, P(only B succeeds) = P(only A succeeds). Then, whatever the tasks and
  whatever came before, each discordant pair is a win for B with probability 1/2.
* The e-process is the Bayes factor of "B wins a discordant pair with probability q, q ~ Beta(1/2, 1/2)"
  against q = 1/2: ``K = B(b + 1/2, a + 1/2) / B(1/2, 1/2) * 2^(a+b)`` after b wins of B and a of A. Under
  H0 it is a nonnegative martingale with K_0 = 1, so by Ville's inequality P(K ever reaches 1/alpha) <= alpha:
  the test may look after every pair and stop whenever it likes, and still makes a false claim of a
  difference with probability at most alpha. It is two-sided; the direction decided is the sign of b - a.
* Stopping: as soon as K >= 1/alpha ("A better" or "B better"), or when the episode budget runs out
  ("undecided": no difference shown within the budget, which is not evidence that there is none).

The decision is not a score: the runs it uses are unofficial (a prefix of the plan), and report nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy.special import betaln

DEFAULT_ALPHA = 0.05
_PRIOR = 0.5  # Beta(1/2, 1/2), Jeffreys' prior on q
METHOD = ("mixture e-process (Beta(1/2,1/2) Bayes factor) on the discordant pairs, stopped at K >= 1/alpha; "
          "anytime-valid by Ville's inequality")


def log_e_value(b_wins: int, a_wins: int) -> float:
    """log K after ``b_wins`` discordant pairs won by B and ``a_wins`` by A."""
    return float(betaln(b_wins + _PRIOR, a_wins + _PRIOR) - betaln(_PRIOR, _PRIOR)
                 + (a_wins + b_wins) * math.log(2.0))


@dataclass
class SequentialTest:
    """Feed paired outcomes in the planned order with :meth:`add`; ``decision`` is set once, then frozen."""

    alpha: float = DEFAULT_ALPHA
    pairs: int = 0
    a_wins: int = 0
    b_wins: int = 0
    decision: str | None = None  # "A better" | "B better"
    decided_at: int | None = None  # pairs used when decided
    log_e: float = 0.0
    history: list[float] = field(default_factory=list)  # log K after each pair

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), not {self.alpha}")

    def add(self, a_success: bool, b_success: bool) -> str | None:
        if self.decision is not None:
            return self.decision
        self.pairs += 1
        self.a_wins += int(a_success and not b_success)
        self.b_wins += int(b_success and not a_success)
        self.log_e = log_e_value(self.b_wins, self.a_wins)
        self.history.append(self.log_e)
        if self.log_e >= math.log(1 / self.alpha):
            self.decision = "B better" if self.b_wins > self.a_wins else "A better"
            self.decided_at = self.pairs
        return self.decision

    def as_dict(self) -> dict[str, object]:
        return {"decision": self.decision or "undecided", "alpha": self.alpha, "pairs_used": self.decided_at or
                self.pairs, "a_only": self.a_wins, "b_only": self.b_wins, "e_value": math.exp(self.log_e),
                "threshold": 1 / self.alpha, "method": METHOD,
                "null_hypothesis": "on every task, only-A and only-B successes are equally likely"}
