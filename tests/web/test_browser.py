"""The leaderboard in a real browser (Debian's Chromium via Playwright) against a real server on loopback:
overview -> leaderboard -> sort by keyboard -> submission -> compare, at a laptop and a phone width, with
screenshots saved under test-artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from leaderboard_testing import LiveServer

pytestmark = pytest.mark.browser

WIDTHS = {"laptop": 1280, "phone": 390}


class Visit:
    """A page at one viewport width that records every request and console error."""

    def __init__(self, browser: Any, live: LiveServer, width: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.width = width
        self.hosts: set[str] = set()
        self.problems: list[str] = []
        self.page.on("request", lambda request: self.hosts.add(urlparse(request.url).netloc))
        self.page.on("console", lambda message: self.problems.append(message.text) if message.type == "error" else None)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.live = live

    def check_layout(self) -> None:
        """Nothing overflows the viewport sideways: wide tables scroll inside their own box."""
        overflow = self.page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= self.width, f"page is {overflow}px wide at a {self.width}px viewport"

    def shot(self, directory: Path, name: str) -> None:
        path = directory / f"{name}-{self.width}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000


@pytest.mark.parametrize("device", list(WIDTHS))
def test_a_visitor_browses_sorts_and_compares(device: str, browser: Any, live: LiveServer, site: Any,
                                              screenshots: Path) -> None:
    visit = Visit(browser, live, WIDTHS[device])
    page = visit.page
    try:
        page.goto(f"{live.url}/")
        assert page.get_by_role("heading", level=1).inner_text() == "Leaderboards"
        assert page.locator("section.benchmark").count() >= 2
        visit.check_layout()
        visit.shot(screenshots, "overview")

        page.get_by_role("link", name="mujoco/hopper@v1", exact=True).click()
        page.wait_for_url("**/leaderboard/mujoco/hopper@v1")
        rows = page.locator("table.board tbody tr")
        assert rows.count() == 3
        assert page.locator("th.col-score").get_attribute("aria-sort") == "descending"
        assert page.locator("table.board .badge.baseline").count() == 1
        visit.check_layout()
        visit.shot(screenshots, "leaderboard")

        # Sort by agent with the keyboard only: Tab to the column's heading link, press Enter.
        page.locator("body").focus()
        for _ in range(60):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('th.col-agent') !== null"):
                break
        else:
            pytest.fail("the Agent column heading is not reachable with Tab")
        page.keyboard.press("Enter")
        page.wait_for_url("**sort=agent**")
        assert page.locator("th.col-agent").get_attribute("aria-sort") == "ascending"
        names = page.locator("table.board tbody td.col-agent a").all_inner_texts()
        assert names == sorted(names, key=str.lower) and len(names) == 3
        visit.shot(screenshots, "leaderboard-sorted")

        page.get_by_role("link", name="baseline:zero", exact=True).click()
        page.wait_for_url(f"**/submissions/{site.ids['zero']}")
        assert "baseline:zero" in page.get_by_role("heading", level=1).inner_text()
        assert page.locator("figure.chart svg:visible").count() == 1  # one layout per width
        assert page.locator("figure.chart svg:visible circle.mean").count() == 1
        assert page.locator("a[download]").get_attribute("href") == f"/api/v1/submissions/{site.ids['zero']}/bundle"
        visit.check_layout()
        visit.shot(screenshots, "submission")

        page.get_by_label("Compare with").select_option(str(site.ids["random"]))
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url("**/compare?**")
        assert page.get_by_role("heading", level=1).inner_text() == "Paired comparison"
        assert page.locator("table.diffs tbody tr").count() == 2  # hopper + all tasks
        visit.check_layout()
        visit.shot(screenshots, "compare")

        assert visit.hosts == {urlparse(live.url).netloc}, f"requests left the server: {visit.hosts}"
        assert visit.problems == [], visit.problems  # e.g. a content-security-policy violation
    finally:
        visit.context.close()
