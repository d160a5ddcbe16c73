"""``report.md`` and ``plots/`` beside ``summary.json``: the run folder read by a person, not a program.

The report holds the results table, the aggregate, the failure summary, the plots, the recorded videos and
the provenance; it is rewritten from the summary and the records, so ``vla-bench report DIR --write``
regenerates it for any bundle.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from vla_bench.harness import report
from vla_bench.harness.failures import summarize_failures
from vla_bench.scoring.robustness import robustness_sections
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.summary import Summary

REPORT_FILE = "report.md"
PLOTS_DIR = "plots"


def _provenance_rows(summary: Summary) -> list[tuple[str, str]]:
    prov, run, agent = summary.provenance, summary.run, summary.agent
    git = prov.git
    rows = [
        ("protocol", f"{summary.protocol.id} (sha256 `{summary.protocol.sha256[:16]}…`)"),
        ("agent", f"`{agent.spec}` ({agent.kind}; sha256 `{(agent.sha256 or '–')[:16]}`)"),
        ("status", f"{summary.status}, {summary.n_episodes_done}/{summary.n_episodes_planned} episodes, "
                   f"{'official' if summary.official else 'UNOFFICIAL (limited episodes)'}"),
        ("started / finished", f"{summary.created_at} / {summary.finished_at or '–'}"),
        ("vla-bench", f"{prov.harness_version} (git {str(git.get('revision'))[:12]}"
                      f"{', dirty' if git.get('dirty') else ''})"),
        ("executor", f"{run.extra('executor')}, {run.extra('workers')} worker(s) × "
                     f"{run.extra('envs_per_worker')} envs"),
    ]
    machine = prov.machine
    if machine:
        rows.append(("machine", f"Python {machine.get('python')}, {machine.get('cpu_count')} CPUs, "
                                f"{machine.get('platform')}"))
    simulator = {k: v for k, v in (prov.simulator or {}).items() if isinstance(v, str)}
    if simulator:
        rows.append(("simulator", ", ".join(f"{k} {v}" for k, v in simulator.items())))
    return rows


def render_markdown(protocol: Protocol, summary: Summary, records: Sequence[EpisodeRecord],
                    plots: Sequence[str] = ()) -> str:
    parts = [report.markdown(summary, provenance_line=False)]
    failures = summarize_failures(records, protocol.task_names)
    parts.append("## Failures\n\n" + failures.markdown())
    parts.extend(robustness_sections(protocol, records))
    if plots:
        parts.append("## Plots\n\n" + "\n".join(f"![{Path(p).stem}]({p})" for p in plots) + "\n")
    videos = [r for r in records if r.video]
    if videos:
        listed = "\n".join(f"- {r.task} #{r.episode_index}: [{r.video}]({r.video})" for r in videos)
        parts.append("## Videos\n\n" + listed + "\n")
    table = "| | |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in _provenance_rows(summary))
    parts.append("## Provenance\n\n" + table + "\n")
    return "\n".join(parts)


def write_run_report(directory: Path, protocol: Protocol, summary: Summary,
                     records: Sequence[EpisodeRecord]) -> Path:
    """Write ``report.md`` and the plots. Never raises: it runs as a run ends, also when the run failed, and
    must not hide that failure (or lose the bundle) behind its own; a problem is a warning on stderr."""
    plots: list[str] = []
    path = directory / REPORT_FILE
    try:
        if summary.scores is not None and records:
            from vla_bench.harness.plots import write_plots  # noqa: PLC0415 - matplotlib only when writing

            written = write_plots(directory / PLOTS_DIR, protocol, summary.scores, records)
            plots = [str(p.relative_to(directory)) for p in written]
    except Exception as exc:  # noqa: BLE001 - see the docstring
        sys.stderr.write(f"warning: the plots could not be drawn ({type(exc).__name__}: {exc})\n")
    try:
        path.write_text(render_markdown(protocol, summary, records, plots), encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - see the docstring
        sys.stderr.write(f"warning: {path} could not be written ({type(exc).__name__}: {exc})\n")
    return path
