"""Fixtures of the web tests: a leaderboard with reference baselines and submissions made from real runs,
served in-process (page tests) and over real HTTP (browser tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from leaderboard_testing import Bundles, LiveServer, TestClient, bundles, make_server, register_markers
from pydantic import JsonValue
from web_testing import ConstantPolicy, Site

import vla_bench
from vla_bench.agents.policy import LoadedAgent

__all__ = ["bundles"]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def pytest_configure(config: pytest.Config) -> None:
    register_markers(config)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory, bundles: Bundles) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    results = root / "results"
    shutil.copytree(bundles.random, results / "hopper-random")
    constant = root / "constant"
    agent = LoadedAgent(spec="tests:constant-0.5", kind="object", factory=lambda: ConstantPolicy(0.5),
                        name="constant-0.5")
    vla_bench.evaluate(agent, "mujoco/hopper@v1", out=constant)
    server = make_server(f"sqlite:///{root / 'board.sqlite3'}", results_dir=results)
    ids = {"random": 1}
    with TestClient(server.app) as client:
        for name, document in (("zero", bundles.document("zero")), ("walker", bundles.document("walker")),
                               ("constant", _document(constant))):
            response = client.post("/api/v1/submissions", json=document, headers=server.user)
            assert response.status_code == 201, response.text
            ids[name] = response.json()["id"]
        assert client.get("/api/v1/submissions/1").json()["is_baseline"] is True
    yield Site(server, ids)
    server.db.dispose()


def _document(directory: Path) -> dict[str, JsonValue]:
    from vla_bench.server.bundle_io import read_bundle_document

    return read_bundle_document(directory)


@pytest.fixture(scope="module")
def pages(site: Site) -> Iterator[TestClient]:
    with TestClient(site.server.app) as client:
        yield client


@pytest.fixture(scope="module")
def live(site: Site) -> Iterator[LiveServer]:
    with LiveServer(site.server.app) as running:
        yield running


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (Playwright's own browser download cannot work offline and is never used)."""
    pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")
    if not CHROMIUM.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "chromium"], env=env, capture_output=True, timeout=1200)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing and could not be installed here (needs root and apt): "
                    "run `apt-get install -y chromium`")
    return str(CHROMIUM)


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """Headless Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
