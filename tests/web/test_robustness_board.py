"""Robustness boards: each entry's paired drops from its own clean arm per axis and level, its robustness score
and safety means, on synthetic entries of mujoco/locomotion-robust@v1 written straight to the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from leaderboard_testing import TestClient, make_server
from web_testing import synthetic_bundle

from vla_bench import protocols
from vla_bench.scoring.scores import normalize
from vla_bench.server import crud
from vla_bench.server.services import robustness_board
from vla_bench.server.validation import AcceptedBundle
from vla_bench.spec import Protocol
from vla_bench.web.format import fmt_value

ROBUST = "mujoco/locomotion-robust@v1"


def _clean_returns(protocol: Protocol) -> dict[str, np.ndarray]:
    """clean task -> the return of each of its episodes (the same for every entry)."""
    rng = np.random.default_rng(7)
    return {t.name: rng.uniform(1000.0, 2000.0, protocol.episodes_per_task) for t in protocol.tasks
            if t.perturbation is None}


def _entry(protocol: Protocol, name: str, scale: Callable[[str], float],
           safety: dict[str, float] | None = None) -> AcceptedBundle:
    """Episode i of every arm returns the clean arm's return x ``scale(arm task)``."""
    clean = _clean_returns(protocol)

    def value(task: str, i: int) -> float:
        perturbation = protocol.task(task).perturbation
        return float(clean[perturbation.base_task if perturbation else task][i] * scale(task))

    return synthetic_bundle(protocol, name, value, safety=safety)


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    protocol = protocols.get_protocol(ROBUST)
    entries = {
        "steady": _entry(protocol, "steady", lambda task: 1.0),
        # half the return under observation noise, untouched elsewhere; its simulator reports safety totals
        "fragile": _entry(protocol, "fragile", lambda task: 0.5 if ".obs_noise." in task else 1.0,
                          safety={"collisions": 2.0, "collision_rate": 0.25, "workspace_violations": 0.0,
                                  "joint_limit_violations": 3.0, "peak_ee_speed": 1.5}),
    }
    server = make_server(f"sqlite:///{tmp_path_factory.mktemp('robust') / 'board.sqlite3'}")
    with server.db.write() as session:
        for offset, accepted in enumerate(entries.values()):
            crud.add_submission(session=session, accepted=accepted, user=None,
                                received_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=offset))
    robustness_board.clear_caches()
    try:
        with TestClient(server.app) as client:
            yield client
    finally:
        server.db.dispose()


def _rows(html: str) -> dict[str, list[str]]:
    """agent name -> the text of its row's cells (tags and intervals dropped)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        agent = re.search(r'<a href="/submissions/\d+">([^<]+)</a>', row)
        assert agent, row
        cells = re.findall(r'<td class="num"[^>]*>(.*?)</td>', row, re.DOTALL)
        rows[agent.group(1)] = [re.sub(r'<span class="ci">.*?</span>|<[^>]+>', "", c).strip() for c in cells]
    return rows


def test_each_entry_shows_its_paired_drop_per_axis_and_level_and_its_robustness_score(board: TestClient) -> None:
    protocol = protocols.get_protocol(ROBUST)
    response = board.get(f"/robustness/{ROBUST}")
    assert response.status_code == 200, response.text
    html = response.text
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'colspan="(\d+)">([a-z_]+)</th>', head) == [
        (str(len(axis.levels)), axis.name) for axis in protocol.perturbation.axes]  # type: ignore[union-attr]
    levels = robustness_board.levels(protocol)
    rows = _rows(html)
    assert set(rows) == {"steady", "fragile"}
    # steady: no loss anywhere
    steady = rows["steady"]
    assert steady[1] == "100.0" and steady[2: 2 + len(levels)] == ["0.00"] * len(levels)
    # fragile: only the obs_noise levels drop; normalized scores, mean over tasks of the per-task mean
    returns = _clean_returns(protocol)

    def score(factor: float) -> float:
        return float(np.mean([np.mean([normalize(protocol.task(task), factor * r) or 0.0 for r in values])
                              for task, values in returns.items()]))

    fragile = rows["fragile"]
    axes = len(protocol.perturbation.axes)  # type: ignore[union-attr]
    retention = score(0.5) / score(1.0)
    assert fragile[1] == fmt_value(100 * (axes - 1 + retention) / axes)  # one axis of seven loses, the rest keep all
    for level, cell in zip(levels, fragile[2: 2 + len(levels)], strict=True):
        expected = score(1.0) - score(0.5) if level.axis == "obs_noise" else 0.0
        assert abs(float(cell) - expected) < 0.01, (level, cell, expected)
    # safety: means per episode, shown only because one entry records them
    assert "Collisions / episode" in head and "Peak EE speed (m/s)" in head
    assert fragile[-5:] == ["2.00", "25.0", "0.00", "3.00", "1.50"] and steady[-5:] == ["–"] * 5


def test_the_index_lists_robustness_protocols_and_a_clean_protocol_names_its_robust_one(board: TestClient) -> None:
    index = board.get("/robustness")
    assert index.status_code == 200
    assert f'href="/robustness/{ROBUST}"' in index.text and "metaworld/mt10-robust@v1" in index.text
    clean = board.get("/robustness/mujoco/locomotion@v1")
    assert clean.status_code == 404 and ROBUST in clean.text
    assert board.get("/robustness/mujoco/nope@v1").status_code == 404
