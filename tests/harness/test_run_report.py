"""report.md: the table, failures, plots, videos and provenance of a run, written even when plots fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from vlab_fakes import fake_protocol

from vla_bench.harness import provenance
from vla_bench.harness.bundle import build_summary
from vla_bench.harness.run_report import write_run_report
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.summary import Summary


def _summary(protocol: Protocol, records: list[EpisodeRecord]) -> Summary:
    return build_summary(protocol=protocol, agent={"spec": "x:make", "kind": "python", "name": "x:make",
                                                   "sha256": None},
                         provenance=provenance.collect(), run={"executor": "local", "workers": 1,
                                                               "envs_per_worker": 2},
                         records=records, n_planned=len(records), official=True, created_at="2026-01-01T00:00:00+00:00")


def _records(protocol: Protocol) -> list[EpisodeRecord]:
    out = []
    for task in protocol.task_names:
        for i in range(3):
            spec = episode_spec(protocol, task, i)
            out.append(EpisodeRecord(task=task, episode_index=i, seed=spec.seed, init_index=None, total_return=1.0 * i,
                                     length=5, success=i > 0, success_step=3 if i > 0 else None,
                                     error="ValueError: bad (at p.py:3)" if i == 0 else None,
                                     error_kind="policy_error" if i == 0 else None,
                                     video=f"videos/{task}-{i:04d}.mp4" if i == 1 else None))
    return out


def test_report_has_table_failures_plots_videos_and_provenance(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=3, success=True)
    records = _records(protocol)
    path = write_run_report(tmp_path, protocol, _summary(protocol, records), records)
    text = path.read_text()
    assert text.startswith("### fake/points@v1 · x:make")
    assert "| a | 3 |" in text and "## Failures" in text
    assert "| policy_error | 2 | ValueError: bad (at p.py:3) |" in text
    assert "![tasks](plots/tasks.png)" in text and (tmp_path / "plots" / "tasks.png").is_file()
    assert "- a #1: [videos/a-0001.mp4](videos/a-0001.mp4)" in text
    assert "## Provenance" in text and "| executor | local, 1 worker(s) × 2 envs |" in text


def test_a_plot_failure_is_a_warning_and_the_report_is_still_written(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from vla_bench.harness import plots

    def broken(*args: object, **kwargs: object) -> list[Path]:
        raise TypeError("matplotlib broke")

    monkeypatch.setattr(plots, "write_plots", broken)
    protocol = fake_protocol(episodes=3, success=True)
    records = _records(protocol)
    path = write_run_report(tmp_path, protocol, _summary(protocol, records), records)
    assert path.is_file() and "## Plots" not in path.read_text()
    assert "warning: the plots could not be drawn (TypeError: matplotlib broke)" in capsys.readouterr().err
