"""The video check accepts what `vla-bench eval --record` writes and names what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

import vla_bench
from vla_bench.server.videos import VideoRejectedError, check_label, check_video


def test_a_recorded_episode_video_passes_the_check(tmp_path: Path) -> None:
    vla_bench.evaluate("baseline:zero", "mujoco/hopper@v1", out=tmp_path / "run", limit_episodes=1, record=1)
    data = (tmp_path / "run" / "videos" / "hopper-0000.mp4").read_bytes()
    checked = check_video(data, max_bytes=len(data))
    assert checked.format == "mp4" and checked.size_bytes == len(data)
    with pytest.raises(VideoRejectedError, match="at most") as refused:
        check_video(data, max_bytes=len(data) - 1)
    assert refused.value.status_code == 413


@pytest.mark.parametrize("name", ["", ".mp4", "../x.mp4", "a/b.mp4", "a b.mp4", "-x.mp4", "x" * 101 + ".mp4"])
def test_video_names_are_plain(name: str) -> None:
    with pytest.raises(VideoRejectedError, match="must be 1 to 100 letters"):
        check_label(name)


def test_a_video_name_loses_its_extension() -> None:
    assert check_label("button-press-topdown-v3-0012.mp4") == "button-press-topdown-v3-0012"
