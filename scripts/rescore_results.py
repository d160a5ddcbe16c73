"""Recompute the scores of every committed results bundle under ``results/`` from its episodes.

Run after a change to ``vla_bench.scoring.scores`` (the server refuses a bundle whose claimed scores differ
from the recomputed ones): ``python scripts/rescore_results.py``. Only ``summary.json``'s ``scores`` change;
the episodes, the protocol copy and everything else in the summary stay as they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vla_bench.harness.bundle import SUMMARY_FILE, read_bundle, write_summary
from vla_bench.scoring.scores import compute_scores
from vla_bench.spec.summary import Scores

ROOT = Path(__file__).resolve().parents[1]


def rescore(directory: Path) -> bool:
    """Rewrite the bundle's scores; True when they changed."""
    bundle = read_bundle(directory)
    scores = Scores.model_validate(compute_scores(bundle.protocol(), bundle.records))
    if scores == bundle.summary_model.scores:
        return False
    write_summary(directory / SUMMARY_FILE, bundle.summary_model.model_copy(update={"scores": scores}))
    return True


def main() -> int:
    for summary in sorted((ROOT / "results").glob(f"*/{SUMMARY_FILE}")):
        changed = rescore(summary.parent)
        sys.stdout.write(f"{'rescored' if changed else 'unchanged'}  {summary.parent.name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
