"""Every board as CSV and JSON: the files parse and hold the board's rows in the board's order."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from web_testing import Site

BOARD = "mujoco/hopper@v1"


def _board_agents(html: str) -> list[str]:
    body = html.split('id="board"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/submissions/\d+">([^<]+)</a>', body)


def test_the_csv_parses_and_matches_the_board(pages: TestClient, site: Site) -> None:
    response = pages.get(f"/leaderboard/{BOARD}.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="mujoco-hopper-v1.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    api = pages.get(f"/api/v1/leaderboards/{BOARD}").json()["data"]
    page = _board_agents(pages.get(f"/leaderboard/{BOARD}").text)
    assert [r["agent"] for r in rows] == [e["agent"]["name"] for e in api] == page
    for row, entry in zip(rows, api, strict=True):
        assert int(row["submission_id"]) == entry["id"] and int(row["rank"]) == entry["rank"]
        assert float(row["score_mean"]) == entry["score"]["mean"]  # full precision, not the page's rounding
        assert [float(row["score_low"]), float(row["score_high"])] == entry["score"]["ci95"]
        assert int(row["n_episodes"]) == entry["n_episodes"] and row["url"] == entry["url"]
        assert int(row["rank_best"]) <= int(row["rank"]) <= int(row["rank_worst"])
    assert [int(r["position"]) for r in rows] == list(range(1, len(rows) + 1))


def test_the_json_export_holds_the_same_rows(pages: TestClient) -> None:
    document = pages.get(f"/leaderboard/{BOARD}.json").json()
    rows = list(csv.DictReader(io.StringIO(pages.get(f"/leaderboard/{BOARD}.csv").text)))
    assert document["protocol"] == BOARD and document["metric"] == "normalized_score"
    assert [e["submission_id"] for e in document["entries"]] == [int(r["submission_id"]) for r in rows]
    assert document["entries"][0]["score_mean"] == float(rows[0]["score_mean"])


def test_exports_of_empty_filtered_and_unknown_boards(pages: TestClient) -> None:
    empty = pages.get("/leaderboard/metaworld/mt10@v1.csv")
    header = empty.text.splitlines()
    assert len(header) == 1 and "reach-v3:mean" in header[0]  # multi-task boards: one triple per task
    assert pages.get("/leaderboard/mujoco/hopper@v1.json?verified=1").json()["entries"] == []
    assert pages.get("/leaderboard/mujoco/nope@v1.csv").status_code == 404
    assert pages.get(f"/leaderboard/{BOARD}").status_code == 200  # the page route is unaffected
@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_the_board_page_links_its_exports(pages: TestClient, suffix: str) -> None:
    assert f'href="/leaderboard/{BOARD}{suffix}"' in pages.get(f"/leaderboard/{BOARD}").text


def test_csv_cells_keep_full_precision_and_never_start_a_formula() -> None:
    from vla_bench.server.pages.exports import _cell

    assert _cell(0.8779999999999999) == "0.8779999999999999" and _cell(None) == "" and _cell(3) == 3
    assert _cell("=HYPERLINK(\"x\")") == "'=HYPERLINK(\"x\")" and _cell("@sum") == "'@sum"
    assert _cell("baseline:random") == "baseline:random"
