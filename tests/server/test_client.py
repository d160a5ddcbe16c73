"""`vla-bench submit`'s client over real HTTP: the bundle, then its episode videos (bad ones reported, not fatal)."""

from __future__ import annotations

import shutil
from pathlib import Path

from leaderboard_testing import Bundles, DatabaseFactory, LiveServer, make_server, mp4

from vla_bench.server.client import submit_bundle


def test_submit_sends_the_bundles_videos_and_reports_refused_ones(sqlite_databases: DatabaseFactory,
                                                                  bundles: Bundles, tmp_path: Path) -> None:
    directory = tmp_path / "run"
    shutil.copytree(bundles.random, directory)
    (directory / "videos").mkdir()
    (directory / "videos" / "hopper-0000.mp4").write_bytes(mp4(b"frames"))
    (directory / "videos" / "hopper-0001.mp4").write_bytes(b"<html>not a video</html>")
    server = make_server(sqlite_databases.fresh(), artifacts_dir=tmp_path / "artifacts")
    try:
        with LiveServer(server.app) as live:
            outcome = submit_bundle(directory, live.url, server.user_token)
            assert outcome.accepted and outcome.status_code == 201, outcome
            assert outcome.videos == ("hopper-0000.mp4",)
            assert len(outcome.video_errors) == 1 and outcome.video_errors[0].startswith("hopper-0001.mp4: (422)")
            again = submit_bundle(directory, live.url, server.user_token)  # a duplicate: the same video, kept once
            assert again.duplicate and again.videos == ("hopper-0000.mp4",)
        assert server.counts()["submission_videos"] == 1
    finally:
        server.db.dispose()
