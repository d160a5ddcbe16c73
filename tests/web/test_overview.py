"""The overview: populated boards first, empty ones folded behind a toggle, the latest submissions listed."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from web_testing import Site

from vla_bench import protocols


def test_populated_boards_come_first_and_empty_ones_are_folded(pages: TestClient) -> None:
    html = pages.get("/").text
    first_fold = html.index('<details class="empty-boards"')
    for populated in ("mujoco/hopper@v1", "mujoco/walker2d@v1"):
        assert html.index(f'href="/leaderboard/{populated}"') < first_fold
    folds = [m.start() for m in re.finditer(r'<details class="empty-boards"', html)]
    closes = [m.start() for m in re.finditer(r"</details>", html)]
    for protocol_id in protocols.protocol_ids():
        if protocol_id in ("mujoco/hopper@v1", "mujoco/walker2d@v1"):
            continue
        at = html.index(f'href="/leaderboard/{protocol_id}"')  # still listed, inside some fold
        opened = max(f for f in folds if f < at)
        assert not any(opened < c < at for c in closes), f"{protocol_id} is not folded"
    others = len(protocols.protocol_ids("mujoco")) - 2
    assert "Show empty boards:" in html and f"Show {others} empty boards of mujoco" in html


def test_the_recent_submissions_link_to_their_pages_newest_first(pages: TestClient, site: Site) -> None:
    html = pages.get("/").text
    section = html[html.index('id="recent"'):]
    section = section[:section.index("</section>")]
    ids = [int(i) for i in re.findall(r'<li><a href="/submissions/(\d+)">', section)]
    assert ids[:3] == [site.ids["constant"], site.ids["walker"], site.ids["zero"]]  # posted in that reverse order
    assert set(ids) == set(site.ids.values())


def test_a_benchmark_filter_keeps_its_own_boards_and_submissions(pages: TestClient, site: Site) -> None:
    html = pages.get("/?benchmark=metaworld").text
    assert "No board has entries yet in metaworld." in html
    assert 'id="recent"' not in html and 'href="/leaderboard/mujoco/hopper@v1"' not in html
    assert 'href="/leaderboard/metaworld/mt10@v1"' in html
