"""Hostile and careless bundles over the API, one case per defect class of issue #11: each is refused with 422
and a message naming the field, the database is unchanged, and the pages of accepted bundles never fail."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leaderboard_testing import Bundles, DatabaseFactory, Server, make_server

from vla_bench.protocols import get_protocol
from vla_bench.scoring.scores import compute_scores
from vla_bench.spec import EpisodeRecord

URL = "/api/v1/submissions"
Doc = dict[str, Any]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def edit(document: Doc) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value
    return edit


def _official_but_limited(document: Doc) -> None:
    document["summary"]["run"]["limit_episodes"] = 3


# (edit, the field named in the answer, a phrase of the message)
CASES: dict[str, tuple[Callable[[Doc], None], str, str]] = {
    # 2: rendered fields of the wrong type or range
    "git revision int": (_set("summary.provenance.git.revision", 12345), "$.summary.provenance.git.revision",
                         "git commit hash"),
    "git revision object": (_set("summary.provenance.git.revision", {}), "$.summary.provenance.git.revision",
                            "git commit hash"),
    "finished_at year 1": (_set("summary.finished_at", "0001-01-01T00:00:00+14:00"), "$.summary.finished_at",
                           "out of range"),
    "finished_at year 9999": (_set("summary.finished_at", "9999-12-31T23:59:59-14:00"), "$.summary.finished_at",
                              "out of range"),
    "finished_at not a date": (_set("summary.finished_at", "yesterday"), "$.summary.finished_at", "ISO 8601"),
    # 3: strings
    "NUL in agent name": (_set("summary.agent.name", "evil\x00agent"), "$.summary.agent.name", "NUL"),
    "NUL in agent spec": (_set("summary.agent.spec", "a\x00b"), "$.summary.agent.spec", "NUL"),
    "lone surrogate in agent name": (_set("summary.agent.name", "x\ud800y"), "$.summary.agent.name",
                                     "lone surrogate U+D800"),
    "finished_at over 64 characters": (_set("summary.finished_at", "2026-01-01T00:00:00+00:00" + " " * 60),
                                       "$.summary.finished_at", "at most 64"),
    # 4: numbers
    "total_return 1e308": (_set("episodes.0.total_return", 1e308), "$.episodes[0].total_return", "implausible"),
    # 5: sizes
    "10 MiB agent spec": (_set("summary.agent.spec", "x" * (10 * 1024 * 1024)), "$.summary.agent.spec",
                          "at most 1000"),
    "huge agent details": (_set("summary.agent.details", {f"k{i}": "v" * 100 for i in range(400)}),
                           "$.summary.agent.details", "at most"),
    # 6: plausibility
    "length past max_steps": (_set("episodes.0.length", 10**9), "$.episodes[0].length", "stops episodes after"),
    "success_step past length": (_set("episodes.0.success_step", 10**6), "$.episodes[0].success_step",
                                 "after the episode's last step"),
    "total_return null without error": (_set("episodes.0.total_return", None), "$.episodes[0].total_return",
                                        "no error"),
    "official with limit_episodes": (_official_but_limited, "$.summary.run.limit_episodes", "official"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bundle_that_would_break_a_page_is_refused(client: TestClient, server: Server, bundles: Bundles,
                                                     case: str) -> None:
    edit, field, phrase = CASES[case]
    document = bundles.document("random")
    edit(document)
    before = server.counts()
    response = client.post(URL, content=json.dumps(document), headers={**server.user,
                                                                      "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["field"] == field and phrase in answer["detail"], answer
    assert server.counts() == before


@pytest.mark.parametrize(("raw", "phrase"), [
    ('"total_return": 1e400', "1e400 is out of range"),  # parses to infinity past the NaN/Infinity check
    ('"seed": 9223372036854775808', "fit in 64 bits"),
])
def test_numbers_past_64_bits_in_the_body_are_refused(client: TestClient, server: Server, bundles: Bundles,
                                                      raw: str, phrase: str) -> None:
    document = bundles.document("random")
    document["episodes"][0]["total_return"] = 12345.5
    document["episodes"][0]["seed"] = 4242424242
    text = json.dumps(document).replace('"total_return": 12345.5', raw if "total" in raw else '"total_return": 12345.5')
    text = text.replace('"seed": 4242424242', raw if "seed" in raw else '"seed": 4242424242')
    before = server.counts()
    response = client.post(URL, content=text, headers={**server.user, "Content-Type": "application/json"})
    assert response.status_code == 422 and phrase in response.json()["detail"], response.text
    assert server.counts() == before


def test_a_timing_of_1e400_is_refused_not_a_500(client: TestClient, server: Server, bundles: Bundles) -> None:
    document = bundles.document("random")
    document["episodes"][3]["timings"] = {"wall_s": 4242.5}
    text = json.dumps(document).replace("4242.5", "1e400")
    before = server.counts()
    response = client.post(URL, content=text, headers={**server.user, "Content-Type": "application/json"})
    assert response.status_code == 422 and "out of range" in response.json()["detail"], response.text
    assert server.counts() == before


@pytest.mark.parametrize("path", [
    f"{URL}/9223372036854775808", f"{URL}/9223372036854775808/bundle", "/submissions/9223372036854775808",
    "/api/v1/compare?a=1&b=9223372036854775808", "/compare?a=9223372036854775808&b=1",
    "/api/v1/leaderboards/mujoco/hopper@v1?offset=9223372036854775808",
    "/leaderboard/mujoco/hopper@v1?page=9223372036854775808",
])
def test_ids_offsets_and_pages_past_64_bits_are_422_not_500(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    if path.startswith("/api/"):
        body = response.json()
        assert isinstance(body["detail"], str) and "less than or equal" in body["detail"]


def test_admin_routes_refuse_huge_ids_with_422(client: TestClient, server: Server) -> None:
    for method in ("PATCH", "DELETE"):
        response = client.request(method, f"{URL}/9223372036854775808", json={"hidden": True}, headers=server.admin)
        assert response.status_code == 422, response.text


# --- property: whatever is accepted renders on every page --------------------------------------------------
_text = st.text(max_size=40)
_scalar = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False,
                                                                                   allow_infinity=False) | _text
_json = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    offset = dt.timezone(dt.timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60))))
    moment = draw(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
    return moment.replace(tzinfo=offset).isoformat()


@st.composite
def _edits(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """(dotted path, value) edits of the rendered fields of a real bundle."""
    edits: list[tuple[str, Any]] = [("summary.agent.name", draw(st.text(min_size=1, max_size=60)))]
    options: list[tuple[str, st.SearchStrategy[Any]]] = [
        ("summary.agent.spec", _text), ("summary.agent.kind", _text), ("summary.agent.details", st.dictionaries(
            _text, _json, max_size=4)),
        ("summary.provenance.git", st.fixed_dictionaries({}, optional={
            "revision": st.none() | st.text("0123456789abcdef", min_size=4, max_size=64) | _json,
            "dirty": _json})),
        ("summary.provenance.renderer", st.none() | _text),
        ("summary.provenance.machine", st.dictionaries(_text, _json, max_size=4)),
        ("summary.provenance.simulator", st.dictionaries(_text, _json, max_size=4)),
        ("summary.provenance.packages", st.dictionaries(_text, _text, max_size=4)),
        ("summary.provenance.command", st.lists(_text, max_size=5)),
        ("summary.run", st.dictionaries(_text.filter(lambda k: k != "limit_episodes"), _json, max_size=4)),
        ("summary.finished_at", st.none() | _timestamps()), ("summary.created_at", _timestamps()),
    ]
    for path, strategy in options:
        if draw(st.booleans()):
            edits.append((path, draw(strategy)))
    for index in draw(st.lists(st.integers(0, 49), max_size=3, unique=True)):
        length = draw(st.integers(0, 1200))
        edits += [(f"episodes.{index}.length", length),
                  (f"episodes.{index}.total_return", draw(st.floats(-1e13, 1e13))),
                  (f"episodes.{index}.success_step", draw(st.none() | st.integers(1, 1200))),
                  (f"episodes.{index}.timings", draw(st.dictionaries(_text, st.floats(-1, 1e13), max_size=3)))]
    return edits


def _rescored(document: Doc) -> None:
    """Claim the scores the server will recompute, so that the edits (not a score mismatch) decide."""
    try:
        records = [EpisodeRecord.from_json(line) for line in document["episodes"]]
        scores = compute_scores(get_protocol("mujoco/hopper@v1"), records)
        document["summary"]["scores"] = json.loads(json.dumps(scores, allow_nan=False))
    except (ValueError, TypeError, KeyError):
        pass  # a record the harness cannot read: the server must refuse it (checked by the caller)


PAGES = ("/submissions/{id}", "/api/v1/submissions/{id}", "/api/v1/submissions/{id}/bundle",
         "/leaderboard/mujoco/hopper@v1", "/leaderboard/mujoco/hopper@v1?sort=agent",
         "/api/v1/leaderboards/mujoco/hopper@v1", "/api/v1/leaderboards", "/", "/compare?a={first}&b={id}",
         "/api/v1/compare?a={first}&b={id}")


def test_every_accepted_bundle_renders_on_every_page(databases: DatabaseFactory, bundles: Bundles) -> None:
    server = make_server(databases.fresh(), submit_rate_limit=10_000)
    with TestClient(server.app) as client:
        _render_accepted(client, server, bundles)
    server.db.dispose()


def _render_accepted(client: TestClient, server: Server, bundles: Bundles) -> None:
    base = bundles.document("random")
    first = client.post(URL, json=base, headers=server.user).json()["id"]
    outcomes: list[int] = []

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(edits=_edits())
    def accepted_bundles_render(edits: list[tuple[str, Any]]) -> None:
        document = copy.deepcopy(base)
        for path, value in edits:
            _set(path, value)(document)
        _rescored(document)
        response = client.post(URL, content=json.dumps(document), headers={**server.user,
                                                                          "Content-Type": "application/json"})
        assert response.status_code in (200, 201, 422), response.text
        outcomes.append(response.status_code)
        if response.status_code == 422:
            assert response.json()["detail"], response.text
            return
        submission = response.json()["id"]
        for page in PAGES:
            shown = client.get(page.format(id=submission, first=first))
            assert shown.status_code == 200, (page, shown.text[-500:])

    accepted_bundles_render()
    assert outcomes.count(201) >= 3, outcomes  # the generator must reach the pages, not only the refusals
