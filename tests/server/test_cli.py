"""The leaderboard commands as a user runs them: real processes, a real server on a loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from leaderboard_testing import Bundles, free_port, mp4

from vla_bench.server.core.migrate import head_revision

CLI = [sys.executable, "-m", "vla_bench.cli"]


def _env(tmp_path: Path, db: str) -> dict[str, str]:
    empty_results = tmp_path / "no-results"
    empty_results.mkdir(exist_ok=True)
    return {**os.environ, "VLA_BENCH_DATABASE_URL": db, "VLA_BENCH_RESULTS_DIR": str(empty_results),
            "VLA_BENCH_TOKEN": ""}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`vla-bench serve` on a free port with a user and token created by the admin commands."""
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'board.sqlite3'}")
    assert _run(env, "server", "create-user", "carol").returncode == 0
    made = _run(env, "server", "create-token", "carol", "--label", "laptop")
    assert made.returncode == 0, made.stderr
    env["VLA_BENCH_TOKEN"] = made.stdout.strip()
    port = free_port()
    process = subprocess.Popen([*CLI, "serve", "--port", str(port), "--log-level", "warning"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"vla-bench serve did not start: {process.stdout.read() if process.stdout else ''}")
            time.sleep(0.1)
        yield url, env
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_submit_prints_the_submission_url_or_the_reason(served: tuple[str, dict[str, str]],
                                                        bundles: Bundles) -> None:
    url, env = served
    accepted = _run(env, "submit", str(bundles.random), "--server", url)
    assert accepted.returncode == 0, accepted.stderr
    page_url = accepted.stdout.strip()
    # Links come from the server's own address (VLA_BENCH_PUBLIC_URL unset), never from the request's Host.
    assert page_url.startswith(f"{url.replace('127.0.0.1', 'localhost')}/submissions/")
    page = httpx.get(page_url)
    assert page.status_code == 200 and "baseline:random" in page.text

    again = _run(env, "submit", str(bundles.random), "--server", url)
    assert again.returncode == 0 and again.stdout.strip() == page_url and "already submitted" in again.stderr

    refused = _run(env, "submit", str(bundles.limited), "--server", url)
    assert refused.returncode == 1
    assert "refused (422)" in refused.stderr and "unofficial" in refused.stderr

    bad_token = _run(env, "submit", str(bundles.zero), "--server", url, "--token", "vlab_wrong")
    assert bad_token.returncode == 1 and "refused (401)" in bad_token.stderr

    submission_id = page_url.rsplit("/", 1)[1]
    assert _run(env, "server", "hide", submission_id).returncode == 0
    assert httpx.get(page_url).status_code == 404


def test_submit_sends_the_bundle_videos_and_delete_removes_them(served: tuple[str, dict[str, str]], bundles: Bundles,
                                                                tmp_path: Path) -> None:
    url, env = served
    bundle = tmp_path / "with-videos"
    shutil.copytree(bundles.zero, bundle)
    (bundle / "videos").mkdir(exist_ok=True)
    (bundle / "videos" / "hopper-0000.mp4").write_bytes(mp4(b"frames"))
    (bundle / "videos" / "hopper-0001.mp4").write_bytes(b"not an mp4 at all")
    sent = _run(env, "submit", str(bundle), "--server", url)
    assert sent.returncode == 0, sent.stderr
    assert "videos sent: hopper-0000.mp4" in sent.stderr and "video refused: hopper-0001.mp4" in sent.stderr
    stored = list((tmp_path / "board.sqlite3").parent.rglob("*.mp4"))
    stored = [path for path in stored if bundle not in path.parents]
    assert len(stored) == 1
    submission_id = sent.stdout.strip().rsplit("/", 1)[1]
    deleted = _run(env, "server", "delete", submission_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert not stored[0].exists()  # the file too, as the API's delete does


def test_serve_without_migration_refuses_a_new_database_with_the_command(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    env = _env(tmp_path, db)
    refused = _run(env, "serve", "--no-migrate", "--port", str(free_port()))
    assert refused.returncode == 2
    assert f"vla-bench server migrate --db '{db}'" in " ".join(refused.stderr.split())
    migrated = _run(env, "server", "migrate")
    assert migrated.returncode == 0 and f"at migration {head_revision()} (head {head_revision()})" in migrated.stdout


def test_serve_refuses_the_default_secret_on_a_public_interface(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'board.sqlite3'}")
    refused = _run(env, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 2
    assert "default secret" in refused.stderr and "VLA_BENCH_SECRET_KEY" in refused.stderr
    assert not (tmp_path / "board.sqlite3").exists()  # refused before the database was touched


def test_admin_commands_explain_their_mistakes(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'board.sqlite3'}")
    missing = _run(env, "server", "create-token", "nobody")
    assert missing.returncode == 2 and "create-user nobody" in missing.stderr
    no_reason = _run(env, "server", "reject", "1")
    assert no_reason.returncode != 0 and "--reason" in no_reason.stderr
    prod = _run({**env, "VLA_BENCH_ENVIRONMENT": "production"}, "server", "migrate")
    assert prod.returncode == 2 and "VLA_BENCH_SECRET_KEY" in prod.stderr


def test_quickstart_runs_the_whole_loop(tmp_path: Path) -> None:
    env = {**_env(tmp_path, f"sqlite:///{tmp_path / 'board.sqlite3'}"), "XDG_DATA_HOME": str(tmp_path / "data")}
    port = free_port()
    done = _run(env, "quickstart", "--port", str(port), "--exit")
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert lines["leaderboard"].strip() == f"http://localhost:{port}/leaderboard/mujoco/hopper@v1"
    assert lines["submission"].strip() == f"http://localhost:{port}/submissions/1"
    bundle = tmp_path / "data" / "vla-bench" / "quickstart" / "mujoco--hopper@v1--baseline-zero"
    assert (bundle / "summary.json").is_file()
    again = _run(env, "quickstart", "--port", str(port), "--exit")  # reuses the run: the same submission
    assert again.returncode == 0 and "submissions/1 (already there)" in again.stdout
