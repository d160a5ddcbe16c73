"""Multi-run entries: a board groups one owner's training runs of a method (agent.training) and scores them over
runs x tasks, on synthetic MT10 entries written straight to the database."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import numpy as np
import pytest
from leaderboard_testing import TestClient, make_server
from scipy import stats
from web_testing import synthetic_bundle

from vla_bench import protocols
from vla_bench.server import crud
from vla_bench.server.services import run_groups
from vla_bench.web.format import fmt_interval, fmt_value

MT10 = "metaworld/mt10@v1"


def _rate(run: int, task_index: int) -> int:
    """Successes of run ``run`` on task ``task_index`` (of 50 episodes)."""
    return 20 + 5 * run + task_index


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    protocol = protocols.get_protocol(MT10)
    tasks = protocol.task_names
    server = make_server(f"sqlite:///{tmp_path_factory.mktemp('runs') / 'board.sqlite3'}")
    entries = [  # (owner, name, group, seed, successes of run r on task t)
        ("alice", "bc s0", "bc-mt10", 0, 0), ("alice", "bc s1 (first try)", "bc-mt10", 1, 5),
        ("alice", "bc s2", "bc-mt10", 2, 2), ("alice", "bc s1", "bc-mt10", 1, 1),  # s1 again, later: it counts
        ("alice", "solo", "one-seed-only", 0, 3),
        ("bob", "bob s0", "bc-mt10", 0, 4), ("bob", "bob s1", "bc-mt10", 7, 0),
    ]
    with server.db.write() as session:
        users = {name: crud.get_user(session=session, name=name) or crud.create_user(session=session, name=name)
                 for name in ("alice", "bob")}
        for offset, (owner, name, group, seed, run) in enumerate(entries):
            def outcome(task: str, index: int, run: int = run) -> float:
                return float(index < _rate(run, tasks.index(task)))

            accepted = synthetic_bundle(protocol, name, outcome, agent={"training": {"group": group, "seed": seed}})
            crud.add_submission(session=session, accepted=accepted, user=users[owner],
                                received_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=offset))
    run_groups.clear_caches()
    try:
        with TestClient(server.app) as client:
            yield client
    finally:
        server.db.dispose()


def _groups(html: str) -> dict[tuple[str, str], list[str]]:
    section = html.split('<section id="runs"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        group = re.search(r'<th scope="row">([^<]+)</th>', row)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        assert group, row
        found[(group.group(1), re.sub(r"<[^>]+>", "", cells[0]))] = [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    return found


def test_runs_of_one_group_and_owner_are_scored_together_over_runs_by_tasks(board: TestClient) -> None:
    html = board.get(f"/leaderboard/{MT10}").text
    groups = _groups(html)
    assert set(groups) == {("bc-mt10", "alice"), ("bc-mt10", "bob")}  # one seed only: no multi-run entry
    alice = groups[("bc-mt10", "alice")]
    assert alice[1] == "3" and alice[-1] == "0, 1, 2"  # the later seed-1 run replaced the first
    matrix = np.array([[_rate(run, t) / 50 for t in range(10)] for run in (0, 1, 2)])
    assert alice[2].startswith(fmt_value(float(matrix.mean()), "success_rate") + " ")
    assert alice[3].startswith(fmt_value(float(stats.trim_mean(matrix.reshape(-1), 0.25)), "success_rate") + " ")
    # the interval resamples runs within tasks: it lies within the range of the per-run means
    low, high = (float(v.rstrip("%")) / 100 for v in alice[2].split("[", 1)[1].rstrip("]").split(", "))
    assert matrix.mean(axis=1).min() - 1e-9 <= low <= matrix.mean() <= high <= matrix.mean(axis=1).max() + 1e-9
    assert fmt_interval([low, high], "success_rate") in alice[2]
    bob = groups[("bc-mt10", "bob")]
    assert bob[1] == "2" and bob[-1] == "0, 7"


def test_board_rows_of_a_multi_run_entry_carry_their_seed(board: TestClient) -> None:
    html = board.get(f"/leaderboard/{MT10}").text
    assert re.search(r'>bc s2</a>.*?<a class="badge run" href="#runs"[^>]*>seed 2</a>', html)
    assert not re.search(r'>solo</a>[^\n]*badge run', html)
    assert not re.search(r'>bc s1 \(first try\)</a>[^\n]*badge run', html)  # replaced by the later seed-1 run
