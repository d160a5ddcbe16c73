"""The board page's tie-aware rank ranges, "Compare selected" and per-task columns, on boards of synthetic
entries written straight to the database (their episodes and recomputed scores; nothing is simulated)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np
import pytest
from leaderboard_testing import TestClient, make_server
from web_testing import synthetic_bundle

from vla_bench import protocols
from vla_bench.server import crud
from vla_bench.server.services import board_ranks
from vla_bench.server.validation import AcceptedBundle
from vla_bench.spec import Protocol

MT10 = "metaworld/mt10@v1"  # success rate, 10 tasks x 50 episodes
HOPPER = "mujoco/hopper@v1"  # normalized score, one task x 50 episodes


def _accepted(protocol: Protocol, name: str, value: Callable[[str, int], float]) -> AcceptedBundle:
    """An entry whose episode (task, i) scores ``value(task, i)``: success when > 0.5 on success boards."""
    return synthetic_bundle(protocol, name, value)


def _board_entries() -> dict[str, AcceptedBundle]:
    mt10, hopper = protocols.get_protocol(MT10), protocols.get_protocol(HOPPER)
    tasks = mt10.task_names
    rng = np.random.default_rng(3)
    base = rng.normal(1500.0, 300.0, hopper.episodes_per_task)
    noise = rng.normal(0.0, 200.0, hopper.episodes_per_task)
    return {
        # MT10: two entries that differ on one episode of 500, and a clearly weaker one
        "strong": _accepted(mt10, "strong", lambda t, i: float(i % 10 != 0)),
        "twin": _accepted(mt10, "twin", lambda t, i: float(i % 10 != 0 or (t == tasks[0] and i == 0))),
        "weak": _accepted(mt10, "weak", lambda t, i: float(i % 10 == 0 and tasks.index(t) < 5)),
        # hopper returns: a noisy copy of one entry (not separable) and one far above both
        "steady": _accepted(hopper, "steady", lambda t, i: float(base[i])),
        "noisy": _accepted(hopper, "noisy", lambda t, i: float(base[i] + noise[i])),
        "high": _accepted(hopper, "high", lambda t, i: float(base[i] + 1500.0)),
    }


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, int]]]:
    server = make_server(f"sqlite:///{tmp_path_factory.mktemp('ranks') / 'board.sqlite3'}")
    ids = {}
    with server.db.write() as session:
        for offset, (name, accepted) in enumerate(_board_entries().items()):
            submission = crud.add_submission(session=session, accepted=accepted, user=None,
                                             received_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
                                             + dt.timedelta(minutes=offset))
            ids[name] = submission.id
    board_ranks.clear_caches()
    try:
        with TestClient(server.app) as client:
            yield client, ids
    finally:
        server.db.dispose()


def _rank_cells(html: str) -> dict[str, str]:
    """agent name -> its rank cell's text."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL):
        rank = re.search(r'<td class="num col-rank"[^>]*>([^<]+)</td>', row)
        agent = re.search(r'<a href="/submissions/\d+">([^<]+)</a>', row)
        assert rank and agent, row
        out[agent.group(1)] = rank.group(1)
    return out


def test_indistinguishable_entries_share_a_rank_range_and_clear_ones_do_not(
        board: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = board
    mt10 = client.get(f"/leaderboard/{MT10}").text
    assert _rank_cells(mt10) == {"twin": "1\u20132", "strong": "1\u20132", "weak": "3"}
    note = re.search(r'<p class="board-note" id="rank-method">([^<]+)</p>', mt10)
    assert note and "exact McNemar tests between every two entries over their identical planned episodes" in (
        note.group(1))
    assert "Holm-adjusted over 3 pairs at alpha = 0.05" in note.group(1)
    hopper = client.get(f"/leaderboard/{HOPPER}").text
    assert _rank_cells(hopper) == {"high": "1", "noisy": "2\u20133", "steady": "2\u20133"}
    assert "paired t-tests (per-episode differences)" in hopper
    # the ranges do not depend on how the page is sorted
    by_agent = client.get(f"/leaderboard/{HOPPER}?sort=agent&order=asc").text
    assert _rank_cells(by_agent) == _rank_cells(hopper)


def test_ticking_two_rows_opens_the_compare_page(board: tuple[TestClient, dict[str, int]]) -> None:
    client, ids = board
    html = client.get(f"/leaderboard/{MT10}").text
    form = html.split('<form class="board-form"', 1)[1].split("</form>", 1)[0]
    assert 'action="/compare/selected" method="get"' in form
    assert '<button type="submit">Compare selected</button>' in form
    assert sorted(int(v) for v in re.findall(r'type="checkbox" name="pick" value="(\d+)"', form)) == sorted(
        ids[name] for name in ("strong", "twin", "weak"))
    picked = client.get(f"/compare/selected?pick={ids['strong']}&pick={ids['weak']}", follow_redirects=False)
    assert picked.status_code == 303
    assert picked.headers["location"] == f"/compare?a={ids['strong']}&b={ids['weak']}"
    compare = client.get(picked.headers["location"])
    assert compare.status_code == 200 and "strong" in compare.text and "weak" in compare.text
    one = client.get(f"/compare/selected?pick={ids['strong']}")
    assert one.status_code == 400 and "tick exactly two rows" in one.text


def test_multi_task_boards_have_per_task_columns_and_the_score_heading_names_the_metric(
        board: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = board
    mt10 = client.get(f"/leaderboard/{MT10}").text
    protocol = protocols.get_protocol(MT10)
    head = mt10.split("<thead>", 1)[1].split("</thead>", 1)[0]
    assert re.findall(r'<th scope="col" class="num col-task opt"[^>]*>([^<]+)</th>', head) == list(protocol.task_names)
    assert "Success rate (%)" in head
    body = mt10.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    weak_row = next(row for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL) if ">weak</a>" in row)
    cells = re.findall(r'<td class="num col-task opt"[^>]*>([^<]+)</td>', weak_row)
    assert cells == ["10.0%"] * 5 + ["0.0%"] * 5  # each task's own success rate, in task order
    hopper = client.get(f"/leaderboard/{HOPPER}").text
    assert "col-task" not in hopper.split("<thead>", 1)[1].split("</thead>", 1)[0]  # one task: no task columns
    assert "Normalized score" in hopper


def test_rank_ranges_are_cached_per_board_and_recomputed_when_it_changes(
        board: tuple[TestClient, dict[str, int]]) -> None:
    client, ids = board
    protocol = protocols.get_protocol(HOPPER)
    db = cast(Any, client.app).state.db
    with db.session() as session:
        first = board_ranks.board_ranks(session=session, protocol=protocol, n_entries=3)
        assert board_ranks.board_ranks(session=session, protocol=protocol, n_entries=3) is first  # cached
        verified = board_ranks.board_ranks(session=session, protocol=protocol, n_entries=0, verified_only=True)
        assert verified.ranges == {} and verified.n_ranked == 0
    with db.write() as session:  # a new entry far below: the board's result is computed again
        low = crud.add_submission(session=session, accepted=_accepted(protocol, "low", lambda t, i: -500.0 - i),
                                  user=None, received_at=dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    try:
        with db.session() as session:
            second = board_ranks.board_ranks(session=session, protocol=protocol, n_entries=4)
        assert second is not first and second.ranges[low.id] == (4, 4)
        assert second.ranges[ids["high"]] == (1, 1) and second.ranges[ids["noisy"]] == (2, 3)
    finally:
        with db.write() as session:
            crud.get_submission(session=session, submission_id=low.id).hidden = True  # type: ignore[union-attr]
