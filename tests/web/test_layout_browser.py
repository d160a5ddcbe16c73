"""Layout of every page in a real browser (Debian's Chromium via Playwright) at a laptop (1400 px) and a phone
(390 px) width, on a board made of the committed reference bundles (a single-task and a 10-task board):

- the page itself never scrolls sideways; a table wider than its box scrolls inside a container whose
  ``overflow-x`` is ``auto``/``scroll`` (never clipped by ``hidden``), and that container carries the scroll cue
  (edge shadows drawn by its background, which are visible only while there is more to scroll);
- no numeric cell (``.num``, dates, rank ranges, per-task values) wraps onto a second line: its text boxes all
  share one line; at 1400 px no cell of the board wraps at all except the agent's name;
- a trained baseline's submission page draws each measure of its training log, and its videos, inside the
  viewport;
- a full-page screenshot of each page and width is saved under ``$VLA_BENCH_SCREENSHOTS`` (or a pytest tmp dir).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from leaderboard_testing import LiveServer, make_server, mp4

pytestmark = pytest.mark.browser

RESULTS = Path(__file__).resolve().parents[2] / "results"
BUNDLES = ("mujoco-hopper--baseline-random", "mujoco-hopper--baseline-ppo-hopper",
           "mujoco-hopper--baseline-bc-hopper-medium", "mujoco-hopper--baseline-iql-hopper-medium",
           "metaworld-mt10--baseline-random", "metaworld-mt10--baseline-bc-mt10",
           "metaworld-mt10--baseline-dagger-mt10",
           # their episodes record safety metrics: the board shows its safety columns and their legend
           "pandapickcube-state--baseline-grpo-pandapickcube-state",
           "pandapickcube-state--baseline-ppo-pandapickcube-state")
WIDTHS = (1400, 390)

# Measured in the page: sideways overflow of the page and of every visible table's clipping box, the scroll
# cue of boxes that scroll, and cells whose text spans more than one line.
MEASURE = """(cells) => {
  const visible = (el) => el.getClientRects().length > 0;
  const label = (el) => (el.closest('table')?.className || 'table') + ': '
    + el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 50);
  const out = {pageWidth: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth,
               clipped: [], noCue: [], scrolling: 0, wrapped: []};
  for (const table of document.querySelectorAll('main table')) {
    if (!visible(table)) continue;  // folded away in a <details>
    let box = table.parentElement;
    while (box && box.tagName !== 'MAIN' && getComputedStyle(box).overflowX === 'visible') box = box.parentElement;
    if (!box || box.tagName === 'MAIN') {
      if (table.getBoundingClientRect().right > out.viewport + 1) out.clipped.push(label(table) + ' (no scroll box)');
      continue;
    }
    if (box.scrollWidth <= box.clientWidth + 1) continue;
    const style = getComputedStyle(box);
    if (!['auto', 'scroll'].includes(style.overflowX)) {
      out.clipped.push(label(table) + ' (overflow-x ' + style.overflowX + ')');
      continue;
    }
    out.scrolling += 1;
    const layers = style.backgroundImage.split(/,\\s*(?=(?:radial|linear)-gradient)/).length;
    const cue = style.backgroundImage.includes('radial-gradient') && style.backgroundAttachment.includes('local');
    if (!cue || layers < 4) out.noCue.push(label(table));
  }
  for (const hidden of document.querySelectorAll('.sr-only')) {  // screen-reader text must stay invisible
    const r = hidden.getBoundingClientRect(), cs = getComputedStyle(hidden);
    const clippedAway = ['absolute', 'fixed'].includes(cs.position) && /rect\\(0px,? 0px,? 0px,? 0px\\)/.test(cs.clip);
    if (!clippedAway && (r.width > 1 || r.height > 1)) out.clipped.push('visible .sr-only text: ' + label(hidden));
  }
  for (const cell of document.querySelectorAll(cells)) {
    if (!visible(cell)) continue;
    const rects = [];
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim()) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) rects.push(r);
    }
    if (rects.length < 2) continue;
    // one line: every text box overlaps every other vertically (smaller fonts sit lower on the same line)
    const lowestTop = Math.max(...rects.map((r) => r.top)), highestBottom = Math.min(...rects.map((r) => r.bottom));
    if (lowestTop >= highestBottom - 1) out.wrapped.push(label(cell));
  }
  return out;
}"""
# Mean luminance of the 3-pixel columns just inside the left and right borders of a screenshot of a scroll
# box, over its lower half (body rows; the header row's own background covers the cue).
EDGES = """async (png) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + png;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const band = (x0) => {
    const data = ctx.getImageData(x0, Math.floor(img.height / 2), 3, Math.floor(img.height / 2) - 2).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
    return sum / (data.length / 4);
  };
  return [band(2), band(img.width - 5)];
}"""
NUMERIC = "main td.num, main th.num, main td.col-date, main td.col-rank, main td.col-task, main table.kv .word"
LAPTOP_ALSO = ", main table.board td:not(.col-agent), main table.board thead th"


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, int]]]:
    root = tmp_path_factory.mktemp("layout")
    for name in BUNDLES:
        shutil.copytree(RESULTS / name, root / "results" / name)
    for agent in ("bc-hopper-medium", "bc-mt10"):  # their training logs: the submission pages draw the curves
        (root / "results" / "agents" / agent).mkdir(parents=True)
        for file in ("manifest.json", "train.csv"):
            shutil.copy(RESULTS / "agents" / agent / file, root / "results" / "agents" / agent / file)
    server = make_server(f"sqlite:///{root / 'board.sqlite3'}", results_dir=root / "results", load_baselines=True)
    with LiveServer(server.app) as live:
        entries = []
        for board in ("metaworld/mt10@v1", "mujoco/hopper@v1"):
            with urllib.request.urlopen(f"{live.url}/api/v1/leaderboards/{board}") as answer:
                entries += json.load(answer)["data"]
        ids = {f"{e['protocol_id']} {e['agent']['name']}": e["id"] for e in entries}
        trained = ids["mujoco/hopper@v1 baseline:bc-hopper-medium"]
        for index in range(2):  # episode videos (an admin may add them to a baseline): laid out beside each other
            upload = urllib.request.Request(f"{live.url}/api/v1/submissions/{trained}/videos/hopper-000{index}.mp4",
                                            data=mp4(bytes([index])), method="PUT",
                                            headers={**server.admin, "Content-Type": "video/mp4"})
            with urllib.request.urlopen(upload) as answer:
                assert answer.status == 201
        yield live, ids
    server.db.dispose()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("VLA_BENCH_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_neither_clip_nor_wrap_numbers(width: int, browser: Any, board: tuple[LiveServer, dict[str, int]],
                                             shots: Path) -> None:
    live, ids = board
    bc, random = ids["metaworld/mt10@v1 baseline:bc-mt10"], ids["metaworld/mt10@v1 baseline:random"]
    trained = ids["mujoco/hopper@v1 baseline:bc-hopper-medium"]
    pages = {"overview": "/", "board": "/leaderboard/mujoco/hopper@v1",
             "multitask-board": "/leaderboard/metaworld/mt10@v1",
             "safety-board": "/leaderboard/pandapickcube/state@v1", "submission": f"/submissions/{bc}",
             "training-curves": f"/submissions/{trained}",
             "compare": f"/compare?a={random}&b={bc}", "api": "/api"}
    context = browser.new_context(viewport={"width": width, "height": 900})
    problems: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        for name, path in pages.items():
            response = page.goto(live.url + path)
            assert response is not None and response.status == 200, (path, response and response.status)
            found = page.evaluate(MEASURE, NUMERIC + (LAPTOP_ALSO if width >= 1000 else ""))
            page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
            if found["pageWidth"] > found["viewport"]:
                problems.append(f"{name}: the page is {found['pageWidth']} px wide, the viewport {found['viewport']}")
            problems += [f"{name}: clipped {t}" for t in found["clipped"]]
            problems += [f"{name}: scrolls without a cue {t}" for t in found["noCue"]]
            problems += [f"{name}: wraps {t}" for t in found["wrapped"]]
            if name == "training-curves":  # every measure's chart is drawn, inside the viewport
                boxes = page.eval_on_selector_all(".curve svg", "(els) => els.map((e) => "
                                                  "({left: e.getBoundingClientRect().left, "
                                                  "right: e.getBoundingClientRect().right}))")
                assert len(boxes) == 3 and all(b["left"] >= 0 and b["right"] <= width for b in boxes), boxes
                videos = page.eval_on_selector_all(".video video", "(els) => els.map((e) => "
                                                   "e.getBoundingClientRect().right)")
                assert len(videos) == 2 and max(videos) <= width, videos
            if name == "multitask-board" and width < 1000:
                assert found["scrolling"] >= 1 or found["pageWidth"] <= width  # a wide board scrolls in its box
    finally:
        context.close()
    assert not problems, f"at {width} px (screenshots in {shots}):\n" + "\n".join(problems)


def test_a_scrolling_table_shows_a_shadow_on_the_side_with_more(browser: Any,
                                                                 board: tuple[LiveServer, dict[str, int]]) -> None:
    """The cue is really drawn: at the start the right edge is shaded and the left is not; scrolled to the
    end, the other way round."""
    live, _ = board
    context = browser.new_context(viewport={"width": 390, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live.url}/leaderboard/mujoco/hopper@v1")
        wrap = page.locator(".table-wrap", has=page.locator("table.board"))
        assert wrap.evaluate("(el) => el.scrollWidth > el.clientWidth + 20"), "the board fits: nothing to test"

        def edges() -> tuple[float, float]:
            left, right = page.evaluate(EDGES, base64.b64encode(wrap.screenshot()).decode())
            return left, right

        start_left, start_right = edges()
        wrap.evaluate("(el) => { el.scrollLeft = el.scrollWidth; }")
        end_left, end_right = edges()
    finally:
        context.close()
    assert start_right < start_left - 12, (start_left, start_right)  # more to the right: shaded there
    assert end_left < end_right - 12, (end_left, end_right)  # at the end: the left is shaded, the right is not
    assert abs(end_right - start_left) < 8  # an edge with nothing beyond it is the plain panel
