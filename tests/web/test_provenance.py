"""Provenance on the submission page: tables rather than Python reprs, long blocks folded, local paths withheld."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, make_server
from web_testing import Site

from vla_bench.web.provenance import (
    WITHHELD,
    flatten,
    provenance_tables,
    shorten_paths,
    withhold_json,
    withhold_paths,
)


@pytest.mark.parametrize(("text", "shown"), [
    ("/tmp/vlab-train/vla_bench/cli.py", WITHHELD),
    ("--out=/home/ann/runs/x", f"--out={WITHHELD}"),
    ("~/data/hopper.hdf5", WITHHELD),
    ("C:\\Users\\ann\\policy.onnx", WITHHELD),
    ("d:/runs/a", WITHHELD),
    ("load /srv/a.pt, then /srv/b.pt", f"load {WITHHELD}, then {WITHHELD}"),
])
def test_local_paths_are_withheld(text: str, shown: str) -> None:
    assert withhold_paths(text) == shown


@pytest.mark.parametrize("text", ["mujoco/hopper@v1", "baseline:bc-mt10", "https://example.org/a/b", "1/2",
                                  "a / b", "Linux-6.18.44-x86_64-with-glibc2.36", "~5 minutes", "2.13.0+cpu"])
def test_ordinary_values_are_left_alone(text: str) -> None:
    assert withhold_paths(text) == text


def test_nested_values_flatten_into_dotted_keys_never_reprs() -> None:
    rows = flatten({"manifest": {"algo": "bc", "dataset": None, "net": {"width": 256}}, "ok": True,
                    "tags": ["a", "b"], "stages": [{"name": "x"}, {"name": "/tmp/y"}]})
    assert [(r.key, r.text) for r in rows] == [
        ("manifest.algo", "bc"), ("manifest.dataset", "–"), ("manifest.net.width", "256"), ("ok", "yes"),
        ("tags", "a, b"), ("stages 1.name", "x"), ("stages 2.name", WITHHELD)]


def test_tables_keep_every_block_and_fold_the_long_ones() -> None:
    manifest = {f"field_{i}": i for i in range(12)}
    tables = provenance_tables(
        agent={"spec": "/home/ann/policy.onnx", "kind": "onnx", "details": {"manifest": manifest, "note": "x"}},
        provenance={"harness_version": "0.1.0", "git": {"revision": "0123456789abcdef", "dirty": True},
                    "command": ["/usr/bin/vla-bench", "eval", "--out", "/tmp/run"], "machine": {"cpu_count": 2},
                    "extra": {"dataset": "~/d4rl/hopper.hdf5"}},
        run={"workers": 1}, record={"protocol_id": "mujoco/hopper@v1", "protocol_sha256": "ab" * 32})
    by_title = {t.title: t for t in tables}
    assert list(by_title) == ["Run record", "Agent details", "Agent details · manifest", "Run settings", "Machine",
                              "Extra"]
    record = {r.key: r.text for r in by_title["Run record"].rows}
    assert record["Agent"] == f"{WITHHELD} (onnx)"
    assert record["Command"] == f"{WITHHELD} eval --out {WITHHELD}"
    command = next(r for r in by_title["Run record"].rows if r.key == "Command")
    assert command.words == (WITHHELD, "eval", "--out", WITHHELD)
    assert record["Harness"] == "vla-bench 0.1.0 · git 0123456789ab (dirty tree)"
    assert not by_title["Run record"].folded  # always open, however long its hashes
    assert by_title["Agent details · manifest"].folded and not by_title["Machine"].folded
    assert by_title["Extra"].rows[0].text == WITHHELD


def test_odd_json_renders_without_error() -> None:
    tables = provenance_tables(agent={"details": [1]}, provenance={"git": "abc", "command": "x", "machine": []},
                               run={"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}}, record={})
    deep = next(t for t in tables if t.title == "Run settings").rows[0]
    assert deep.key == "a.b.c.d.e.f" and deep.text == '{"g": 1}'


def _provenance_section(html: str) -> str:
    return html[html.index('id="provenance"'):html.index('id="history"')]


def test_the_submission_page_shows_provenance_tables_and_no_local_paths(pages: TestClient, site: Site) -> None:
    submission_id = site.ids["zero"]
    summary = pages.get(f"/api/v1/submissions/{submission_id}/bundle").json()["summary"]
    html = pages.get(f"/submissions/{submission_id}").text
    section = _provenance_section(html)
    assert '<table class="kv">' in section and "<caption>Run settings</caption>" in section
    assert not re.search(r"\w+=\{|\{'|'\}|\[\s*'", section), "a Python repr on the page"
    for key, value in summary["run"].items():  # every run setting is a row (nested ones as dotted keys)
        assert f'<th scope="row">{key}{"." if isinstance(value, dict) and value else "</th>"}' in section, key
    command = " ".join(summary["provenance"]["command"])
    local = re.findall(r"(?:^|\s)(/[\w.-]+/\S*)", command)
    for path in local:
        assert path not in html
    if local:
        assert WITHHELD in section


def test_the_api_copy_of_the_provenance_withholds_local_paths(pages: TestClient, site: Site) -> None:
    submission_id = site.ids["zero"]
    bundle = pages.get(f"/api/v1/submissions/{submission_id}/bundle").json()["summary"]
    detail = pages.get(f"/api/v1/submissions/{submission_id}").json()
    assert detail["provenance"]["command"] == [withhold_paths(part) for part in bundle["provenance"]["command"]]
    assert detail["provenance"]["git"] == bundle["provenance"]["git"] and detail["run"].keys() == bundle["run"].keys()
    assert withhold_json({"a": ["/tmp/x", 1, None], "b": {"c": "~/d/e"}}) == {"a": [WITHHELD, 1, None],
                                                                               "b": {"c": WITHHELD}}


def test_agent_names_and_specs_keep_only_the_last_component_of_a_local_path(
        tmp_path: Path, bundles: Bundles) -> None:
    assert shorten_paths("/home/ann/policy.py:Pi") == "policy.py:Pi"
    assert shorten_paths("C:\\runs\\p.onnx") == "p.onnx" and shorten_paths("baseline:zero") == "baseline:zero"
    server = make_server(f"sqlite:///{tmp_path / 'board.sqlite3'}")
    document = bundles.document("zero")
    document["summary"]["agent"].update(name="/home/ann/agents/policy.py:Pi", spec="/home/ann/agents/policy.py:Pi")
    with TestClient(server.app) as client:
        created = client.post("/api/v1/submissions", json=document, headers=server.user)
        assert created.status_code == 201, created.text
        submission_id = created.json()["id"]
        agent = client.get(f"/api/v1/submissions/{submission_id}").json()["agent"]
        assert agent["name"] == agent["spec"] == "policy.py:Pi"
        for path in ("/leaderboard/mujoco/hopper@v1", "/", f"/submissions/{submission_id}"):
            html = client.get(path).text
            assert "/home/ann" not in html and "policy.py:Pi" in html, path
    server.db.dispose()
