"""What went wrong in a run: errored episodes grouped by kind, with the first message of each kind.

Printed after every run, written into ``report.md``, and used for ``--max-error-rate``: a run whose share of
errored episodes exceeds the threshold exits non-zero, so a policy that fails every episode never passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vla_bench.spec import EpisodeRecord

DEFAULT_MAX_ERROR_RATE = 0.1  # < 1, so a run where every episode failed can never exit 0
MAX_LISTED_EPISODES = 8


@dataclass(frozen=True)
class FailureKind:
    kind: str
    count: int
    first_message: str
    episodes: tuple[tuple[str, int], ...]  # (task, episode index), in plan order

    def episodes_text(self, limit: int = MAX_LISTED_EPISODES) -> str:
        shown = ", ".join(f"{task}#{index}" for task, index in self.episodes[:limit])
        more = len(self.episodes) - limit
        return shown + (f" and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class FailureSummary:
    n_episodes: int
    kinds: tuple[FailureKind, ...] = field(default_factory=tuple)

    @property
    def n_errors(self) -> int:
        return sum(kind.count for kind in self.kinds)

    @property
    def error_rate(self) -> float:
        return self.n_errors / self.n_episodes if self.n_episodes else 0.0

    def exceeds(self, max_error_rate: float) -> bool:
        return self.n_errors > 0 and self.error_rate > max_error_rate

    def lines(self) -> list[str]:
        """Plain text: one headline, then per kind its count, first message and episodes."""
        if not self.kinds:
            return [f"no errors in {self.n_episodes} episodes"]
        lines = [f"{self.n_errors} of {self.n_episodes} episodes failed ({100 * self.error_rate:.1f}%); "
                 "errored episodes score as failures"]
        for kind in self.kinds:
            lines.append(f"  {kind.kind} × {kind.count}: {kind.first_message}")
            lines.append(f"    episodes: {kind.episodes_text()}")
        return lines

    def markdown(self) -> str:
        if not self.kinds:
            return f"No errors in {self.n_episodes} episodes.\n"
        rows = ["| kind | episodes | first message | which |", "|---|---:|---|---|"]
        for kind in self.kinds:
            message = kind.first_message.replace("|", "\\|")
            rows.append(f"| {kind.kind} | {kind.count} | {message} | {kind.episodes_text()} |")
        head = (f"{self.n_errors} of {self.n_episodes} episodes failed ({100 * self.error_rate:.1f}%); "
                "errored episodes score as failures.")
        return head + "\n\n" + "\n".join(rows) + "\n"


def summarize_failures(records: Sequence[EpisodeRecord], task_order: Sequence[str] = ()) -> FailureSummary:
    order = {name: index for index, name in enumerate(task_order)}
    errored = sorted((r for r in records if r.error),
                     key=lambda r: (order.get(r.task, len(order)), r.task, r.episode_index))
    grouped: dict[str, list[EpisodeRecord]] = {}
    for record in errored:
        grouped.setdefault(record.error_kind or "error", []).append(record)
    kinds = tuple(
        FailureKind(kind=kind, count=len(group), first_message=str(group[0].error),
                    episodes=tuple(r.key for r in group))
        for kind, group in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))
    )
    return FailureSummary(n_episodes=len(records), kinds=kinds)
