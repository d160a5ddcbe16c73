"""Safety columns of a board page and its exports: the means per episode the server computed from each entry's
stored episodes at ingest (not the submitted summary's), shown only on boards where some entry has them, with
their definitions in the header tooltips and the legend."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import re
from collections.abc import Iterator

import pytest
from leaderboard_testing import TestClient, make_server
from markupsafe import escape
from pydantic import JsonValue
from web_testing import synthetic_bundle

from vla_bench import protocols
from vla_bench.scoring.safety_summary import COLUMNS, entry_safety
from vla_bench.server import crud
from vla_bench.server.validation import AcceptedBundle
from vla_bench.spec import Protocol
from vla_bench.web.safety import COLUMNS as WEB_COLUMNS

SAFE = "pandapickcube/state@v1"  # a simulator that records safety
PLAIN = "mujoco/hopper@v1"  # one that records none


def _safety(i: int) -> dict[str, float]:
    return {"collisions": float(i % 3), "collision_steps": float(i % 5), "collision_rate": (i % 5) / 40.0,
            "workspace_violations": float(i % 2), "joint_limit_violations": 0.0, "peak_ee_speed": 0.5 + 0.01 * i}


def _with_safety(protocol: Protocol, name: str) -> AcceptedBundle:
    """Episode i records ``_safety(i)``; the summary claims something else, which must be ignored."""
    accepted = synthetic_bundle(protocol, name, lambda task, i: float(i % 2))
    records = [dataclasses.replace(r, safety=_safety(r.episode_index)) for r in accepted.records]
    summary_json: dict[str, JsonValue] = {**accepted.summary_json, "safety": {"collisions": 0.0, "peak_ee_speed": 0.0}}
    return dataclasses.replace(accepted, summary_json=summary_json, records=records,
                               episodes=[r.to_json() for r in records])


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    safe, plain = protocols.get_protocol(SAFE), protocols.get_protocol(PLAIN)
    server = make_server(f"sqlite:///{tmp_path_factory.mktemp('safety') / 'board.sqlite3'}")
    entries = [_with_safety(safe, "careful"),
               synthetic_bundle(safe, "legacy", lambda task, i: 0.0),  # from a harness that recorded no safety
               synthetic_bundle(plain, "hopper", lambda task, i: 1000.0)]
    with server.db.write() as session:
        for offset, accepted in enumerate(entries):
            crud.add_submission(session=session, accepted=accepted, user=None,
                                received_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=offset))
    try:
        with TestClient(server.app) as client:
            yield client
    finally:
        server.db.dispose()


def _expected() -> dict[str, float]:
    protocol = protocols.get_protocol(SAFE)
    found = entry_safety(_safety(i) for _ in protocol.task_names for i in range(protocol.episodes_per_task))
    assert found is not None
    return found


def test_entry_safety_is_the_mean_per_episode_over_episodes_that_record_it() -> None:
    assert entry_safety([None, None]) is None
    found = entry_safety([None, {"collisions": 2.0, "peak_ee_speed": 1.0}, {"collisions": 1.0, "peak_ee_speed": 3.0}])
    assert found is not None and found["n"] == 2 and found["collisions"] == 1.5
    assert found["peak_ee_speed"] == 2.0 and found["max_peak_ee_speed"] == 3.0 and found["collision_rate"] == 0.0


def test_a_board_with_safety_shows_the_columns_with_their_definitions(board: TestClient) -> None:
    html = board.get(f"/leaderboard/{SAFE}").text
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    for column in WEB_COLUMNS:
        assert f'title="{escape(column.definition)}">{column.heading}</th>' in head
    assert 'id="safety-note"' in html and "5 N" in html.split('id="safety-note"', 1)[1]
    expected = _expected()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {re.search(r'<a href="/submissions/\d+">([^<]+)</a>', row).group(1):  # type: ignore[union-attr]
            re.findall(r'<td class="num col-safety opt"[^>]*>([^<]*)</td>', row)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)}
    assert rows["careful"] == [f"{100 * expected[c]:.1f}" if c == "collision_rate" else f"{expected[c]:.2f}"
                               for c in COLUMNS]
    assert rows["careful"][0] != "0.00"  # the episodes' totals, not the summary's zeros
    assert rows["legacy"] == ["–"] * len(COLUMNS)
    assert f"maximum {expected['max_peak_ee_speed']:.2f} m/s" in body


def test_a_board_without_safety_has_no_safety_columns(board: TestClient) -> None:
    html = board.get(f"/leaderboard/{PLAIN}").text
    assert "col-safety" not in html and "safety-note" not in html
    header = board.get(f"/leaderboard/{PLAIN}.csv").text.splitlines()[0]
    assert "safety" not in header
    assert "safety" not in board.get(f"/leaderboard/{PLAIN}.json").json()


def test_exports_carry_the_unrounded_means(board: TestClient) -> None:
    expected = _expected()
    rows = {r["agent"]: r for r in csv.DictReader(io.StringIO(board.get(f"/leaderboard/{SAFE}.csv").text))}
    for column in COLUMNS:
        assert float(rows["careful"][f"safety_{column}"]) == expected[column]
        assert rows["legacy"][f"safety_{column}"] == ""
    assert int(rows["careful"]["safety_episodes"]) == expected["n"]
    assert float(rows["careful"]["safety_max_peak_ee_speed"]) == expected["max_peak_ee_speed"]
    document = board.get(f"/leaderboard/{SAFE}.json").json()
    assert document["safety"]["force_threshold_n"] == 5.0
    assert set(document["safety"]["fields"]) == {f"safety_{c}" for c in COLUMNS}
    careful = next(e for e in document["entries"] if e["agent"] == "careful")
    assert all(math.isclose(careful[f"safety_{c}"], expected[c], rel_tol=0, abs_tol=0) for c in COLUMNS)
