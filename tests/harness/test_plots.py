"""The run folder's plots are real PNGs with one bar per task (counted in the pixels, not trusted)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
from vlab_fakes import fake_protocol

from vla_bench.harness.plots import task_bars, write_plots
from vla_bench.protocols.plan import episode_spec
from vla_bench.scoring.scores import compute_scores
from vla_bench.spec import EpisodeRecord, Protocol
from vla_bench.spec.summary import Scores

BAR_RGB = np.array([0x48, 0x78, 0xA8]) / 255


def _bars_in(png: Path) -> int:
    """Bars drawn in the plot: runs of the bar colour along the pixel row that crosses the most of them."""
    image = matplotlib.image.imread(png)[..., :3]
    is_bar = np.all(np.abs(image - BAR_RGB) < 0.02, axis=-1)
    row = is_bar[int(np.argmax(is_bar.sum(axis=1)))]
    return int(np.sum(row[1:] & ~row[:-1]) + row[0])


def _records(protocol: Protocol, wins: dict[str, int], n: int) -> list[EpisodeRecord]:
    return [EpisodeRecord(task=t, episode_index=i, seed=episode_spec(protocol, t, i).seed, init_index=None,
                          total_return=float(i), length=10 + i, success=i < w, success_step=5 + i if i < w else None)
            for t, w in wins.items() for i in range(n)]


def test_task_bars_draw_one_bar_per_task_with_intervals(tmp_path: Path) -> None:
    tasks = [{"name": f"task-{i}", "env_id": "fake"} for i in range(7)]
    protocol = fake_protocol(episodes=10, success=True, tasks=tasks, max_steps=30)
    records = _records(protocol, {f"task-{i}": 2 + i for i in range(7)}, 10)
    scores = Scores.model_validate(compute_scores(protocol, records))
    assert task_bars(protocol, scores, tmp_path / "tasks.png") == 7
    assert (tmp_path / "tasks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _bars_in(tmp_path / "tasks.png") == 7


def test_every_plot_of_a_run_is_a_valid_png(tmp_path: Path) -> None:
    protocol = fake_protocol(episodes=6, success=True, max_steps=30)
    records = _records(protocol, {"a": 3, "b": 5}, 6)
    written = write_plots(tmp_path, protocol, Scores.model_validate(compute_scores(protocol, records)), records)
    assert [p.name for p in written] == ["tasks.png", "returns.png", "lengths.png", "success_by_step.png"]
    for path in written:
        image = matplotlib.image.imread(path)  # decodes: a valid PNG
        assert image.shape[0] > 100 and image.shape[1] > 100
    assert _bars_in(tmp_path / "tasks.png") == 2
