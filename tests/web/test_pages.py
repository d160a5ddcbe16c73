"""The server-rendered pages, read as HTML: content, sorting links with aria-sort, nothing external."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from web_testing import Site

from vla_bench import protocols

EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)


def _agents(html: str) -> list[str]:
    """Agent names of the board's rows, top to bottom."""
    return [name for row in _rows(html) for name in re.findall(r'<a href="/submissions/\d+">([^<]+)</a>', row)]


@pytest.mark.parametrize("path", ["/", "/leaderboard/mujoco/hopper@v1", "/submissions/1", "/compare?a=1&b=2", "/api",
                                  "/leaderboard/mujoco/nope@v1"])
def test_pages_reference_nothing_outside_the_server(path: str, pages: TestClient) -> None:
    response = pages.get(path)
    assert response.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(response.text), EXTERNAL.search(response.text)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert '<link rel="stylesheet" href="/static/style.css">' in response.text
    assert pages.get("/static/style.css").status_code == 200


def test_the_overview_lists_every_benchmark_and_protocol_with_its_best_entry(pages: TestClient) -> None:
    html = pages.get("/").text
    for protocol_id in protocols.protocol_ids():
        assert f'href="/leaderboard/{protocol_id}"' in html
    hopper_row = next(row for row in html.split("<tr>") if 'href="/leaderboard/mujoco/hopper@v1"' in row)
    best = pages.get("/api/v1/leaderboards/mujoco/hopper@v1").json()["data"][0]
    assert f'<a href="/submissions/{best["id"]}">{best["agent"]["name"]}</a>' in hopper_row
    filtered = pages.get("/?benchmark=pandapickcube").text
    assert "pandapickcube/state@v1" in filtered and "/leaderboard/mujoco/hopper@v1" not in filtered
    assert pages.get("/?benchmark=nope").status_code == 404


def test_the_leaderboard_is_ranked_and_sorted_by_links_with_aria_sort(pages: TestClient) -> None:
    html = pages.get("/leaderboard/mujoco/hopper@v1").text
    api = pages.get("/api/v1/leaderboards/mujoco/hopper@v1").json()["data"]
    assert _agents(html) == [e["agent"]["name"] for e in api]
    assert re.search(r'class="sortable col-score" aria-sort="descending"><a href="[^"]*sort=score&amp;order=asc"', html)
    assert re.search(r'class="sortable col-agent" aria-sort="none"><a href="[^"]*sort=agent&amp;order=asc"', html)
    assert html.count('aria-sort="none"') == 4
    assert 'class="badge baseline"' in _rows(html)[[e["is_baseline"] for e in api].index(True)]
    assert html.count('<svg class="strip"') == len(api)

    by_agent = pages.get("/leaderboard/mujoco/hopper@v1?sort=agent&order=asc").text
    assert _agents(by_agent) == sorted(_agents(html), key=str.lower)
    assert 'class="sortable col-agent" aria-sort="ascending"' in by_agent
    reversed_ = pages.get("/leaderboard/mujoco/hopper@v1?sort=agent&order=desc").text
    assert _agents(reversed_) == list(reversed(_agents(by_agent)))


def test_the_protocol_picker_and_empty_boards(pages: TestClient) -> None:
    response = pages.get("/leaderboard?protocol=mujoco/ant@v1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/leaderboard/mujoco/ant@v1"
    empty = pages.get("/leaderboard/mujoco/ant@v1").text
    assert "No entries on this board yet." in empty and "--protocol mujoco/ant@v1" in empty
    missing = pages.get("/leaderboard/mujoco/nope@v1")
    assert missing.status_code == 404 and "unknown protocol" in missing.text


def test_the_submission_page_has_tasks_chart_provenance_and_download(pages: TestClient, site: Site) -> None:
    submission_id = site.ids["zero"]
    detail = pages.get(f"/api/v1/submissions/{submission_id}").json()
    html = pages.get(f"/submissions/{submission_id}").text
    assert "<h1>baseline:zero" in html
    assert '<th scope="row">hopper</th>' in html
    assert html.count('<circle class="mean"') == 2 * len(detail["scores"]["tasks"])  # laptop + phone layout
    assert detail["provenance"]["git"]["revision"][:12] in html
    assert f'href="/api/v1/submissions/{submission_id}/bundle" download' in html
    assert pages.get(f"/api/v1/submissions/{submission_id}/bundle").status_code == 200
    assert html.count('<td class="num">', html.index('class="episodes"')) >= 3 * 50
    assert f'<option value="{site.ids["constant"]}">' in html  # compare partners: same protocol only
    assert f'<option value="{site.ids["walker"]}">' not in html


def test_the_compare_page_shows_the_paired_differences(pages: TestClient, site: Site) -> None:
    a, b = site.ids["random"], site.ids["zero"]
    api = pages.get("/api/v1/compare", params={"a": a, "b": b}).json()["comparison"]
    html = pages.get(f"/compare?a={a}&b={b}").text
    overall = api["overall"]["difference"]["mean"]
    assert f"{'+' if overall > 0 else ''}{overall:.2f}" in html
    assert '<line class="reference"' in html
    assert f'href="/compare?a={b}&amp;b={a}"' in html
    assert f"<strong>Verdict:</strong> {api['verdict']}" in html  # the paired test's plain-language outcome
    other = pages.get(f"/compare?a={a}&b={site.ids['walker']}")
    assert other.status_code == 422 and "only runs of the same protocol" in other.text


def test_the_api_reference_lists_the_endpoints(pages: TestClient) -> None:
    html = pages.get("/api").text.replace("<wbr>", "")  # paths carry break opportunities after each '/'
    assert "/api/v1/submissions" in html and "/api/v1/compare" in html and 'href="/api/v1/openapi.json"' in html
