"""Human-readable views of a results summary and of a paired comparison: Rich table, Markdown, JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from vla_bench.harness.comparison import Comparison
from vla_bench.scoring.scores import IQM_MIN_SCORES
from vla_bench.spec.summary import Estimate, Summary

METRIC_LABELS = {"normalized_score": "normalized score", "success_rate": "success rate", "mean_return": "return",
                 "average_length": "average length"}


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if percent else f"{value:.2f}"


def _interval(mean: float | None, low: float | None, high: float | None, percent: bool) -> str:
    if mean is None:
        return "–"
    return f"{_fmt(mean, percent)} [{_fmt(low, percent)}, {_fmt(high, percent)}]"


def _estimate(estimate: Estimate | None, percent: bool = False) -> str:
    return "–" if estimate is None else _interval(estimate.mean, *estimate.ci95, percent=percent)


def _rows(summary: Summary) -> tuple[list[str], list[list[str]]]:
    tasks = summary.scores.tasks if summary.scores else {}
    has_norm = any(t.normalized_score for t in tasks.values())
    has_success = any(t.success_rate for t in tasks.values())
    header = ["task", "n", "return (95% CI)"]
    header += ["normalized (95% CI)"] if has_norm else []
    header += ["success (Wilson 95%)", "steps to success"] if has_success else []
    chain_length = max((t.chain.length for t in tasks.values() if t.chain), default=0)
    header += [f">={i} in a row" for i in range(1, chain_length + 1)]
    header += ["avg length (95% CI)"] if chain_length else []
    header += ["smoothness", "clipped steps", "errors"]
    rows = []
    for name, task in tasks.items():
        row = [name, str(task.n), _estimate(task.mean_return)]
        row += [_estimate(task.normalized_score)] if has_norm else []
        if has_success:
            row += [_estimate(task.success_rate, percent=True), _fmt(task.completion_steps)]
        if chain_length:
            rates = [_fmt(rate.mean, percent=True) for rate in task.chain.success_rates] if task.chain else []
            row += rates + ["–"] * (chain_length - len(rates))
            row += [_estimate(task.chain.average_length if task.chain else None)]
        row += [_fmt(task.action_smoothness), str(task.clipped_steps),
                ", ".join(f"{k}: {v}" for k, v in task.errors.items()) or "0"]
        rows.append(row)
    return header, rows


def _aggregate_line(summary: Summary) -> str:
    aggregate = summary.scores.aggregate if summary.scores else None
    if not aggregate:
        return "no episodes finished"
    percent = aggregate.metric == "success_rate"
    label = METRIC_LABELS[aggregate.metric]
    if aggregate.iqm:
        iqm = f" · IQM {_estimate(aggregate.iqm, percent)}"
    else:  # the full reason is in summary.json's iqm_note
        iqm = f" · IQM withheld (needs ≥{IQM_MIN_SCORES} task scores)" if aggregate.iqm_note else ""
    method = aggregate.interval_method or "stratified bootstrap"
    return (f"{label}: mean {_estimate(aggregate.mean, percent)}{iqm} (95% CI: {method}; "
            f"{aggregate.n_episodes} episodes, {aggregate.n_tasks} tasks, {aggregate.n_errors} errors)")


def _title(summary: Summary) -> str:
    flags = [] if summary.official else ["UNOFFICIAL: limited episodes"]
    if summary.status != "complete":
        flags.append(f"{summary.status.upper()}: {summary.n_episodes_done}/{summary.n_episodes_planned}")
    suffix = f" ({'; '.join(flags)})" if flags else ""
    return f"{summary.protocol.id} · {summary.agent.name}{suffix}"


def print_table(summary: Summary, console: Console | None = None) -> None:
    console = console or Console()
    header, rows = _rows(summary)
    table = Table(title=_title(summary), title_justify="left")
    for index, column in enumerate(header):
        table.add_column(column, justify="left" if index == 0 else "right", no_wrap=index > 0)
    for row in rows:
        table.add_row(*row)
    print_unwrapped(table, console)
    console.print(_aggregate_line(summary), soft_wrap=True)


def print_unwrapped(table: Table, console: Console) -> None:
    """Print ``table`` at its natural width when the console is narrower: a line longer than the screen
    beats a number broken over three lines (and a pipe or a log file has no screen width at all)."""
    natural = Measurement.get(console, console.options.update(width=10_000), table).maximum
    if natural <= console.width:
        console.print(table)
        return
    width = console.width
    console.width = natural
    try:
        console.print(table)
    finally:
        console.width = width


def markdown(summary: Summary, provenance_line: bool = True) -> str:
    header, rows = _rows(summary)
    lines = [f"### {_title(summary)}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", _aggregate_line(summary)]
    if provenance_line:
        lines += ["", f"protocol sha256 `{summary.protocol.sha256[:16]}…` · vla-bench "
                  f"{summary.provenance.harness_version} · git {summary.provenance.git.get('revision')}"]
    return "\n".join(lines) + "\n"


def as_json(document: Summary | Mapping[str, object]) -> str:
    if isinstance(document, Summary):
        document = document.to_json()
    return json.dumps(document, indent=2)


def _signed(value: float | None, percent: bool) -> str:
    if value is None:
        return "–"
    return f"{100 * value:+.1f}" if percent else f"{value:+.2f}"


def _difference(estimate: Estimate, percent: bool) -> str:
    low, high = estimate.ci95
    unit = " pp" if percent else ""
    return f"{_signed(estimate.mean, percent)}{unit} [{_signed(low, percent)}, {_signed(high, percent)}]"


def comparison_rows(result: Comparison) -> tuple[list[str], list[list[str]]]:
    """Per task and over all tasks: both arms, the paired difference B − A, and the success-rate tests."""
    percent = result.metric == "success_rate"
    header = ["task", "pairs", "A (95% CI)", "B (95% CI)", "B − A (paired bootstrap 95%)"]
    if percent:
        header += ["B − A (Newcombe 95%)", "A only / B only", "McNemar p", "Holm p"]
    rows = []
    for name, entry in [*result.tasks.items(), ("all tasks", result.overall)]:
        row = [name, str(entry.n_pairs), _estimate(entry.a, percent), _estimate(entry.b, percent),
               _difference(entry.difference, percent)]
        if percent and entry.mcnemar is not None and entry.newcombe is not None:
            test = entry.mcnemar
            row += [_difference(entry.newcombe, percent), f"{test.a_only} / {test.b_only}",
                    f"{test.p_value:.3g}", f"{test.p_holm:.3g}" if test.p_holm is not None else "–"]
        rows.append(row)
    return header, rows


def _comparison_notes(result: Comparison) -> list[str]:
    notes = []
    if result.multiple_comparisons:
        notes.append(f"note: {result.multiple_comparisons}")
    if result.only_in_a or result.only_in_b:
        notes.append(f"unpaired episodes left out: {result.only_in_a} only in A, {result.only_in_b} only in B")
    return notes


def _comparison_title(result: Comparison, name_a: str, name_b: str) -> str:
    return f"{result.protocol} ({METRIC_LABELS[result.metric]}): A = {name_a}, B = {name_b}"


def print_comparison(result: Comparison, name_a: str, name_b: str, console: Console | None = None) -> None:
    console = console or Console()
    header, rows = comparison_rows(result)
    table = Table(title=_comparison_title(result, name_a, name_b), title_justify="left")
    for index, column in enumerate(header):
        table.add_column(column, justify="left" if index == 0 else "right", no_wrap=index > 0)
    for row in rows:
        table.add_row(*row)
    print_unwrapped(table, console)
    for note in _comparison_notes(result):
        console.print(note, soft_wrap=True)
    console.print(f"verdict: {result.verdict}", soft_wrap=True)


def comparison_markdown(result: Comparison, name_a: str, name_b: str) -> str:
    header, rows = comparison_rows(result)
    lines = [f"### {_comparison_title(result, name_a, name_b)}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", *_comparison_notes(result), f"**Verdict:** {result.verdict}"]
    return "\n".join(lines) + "\n"
