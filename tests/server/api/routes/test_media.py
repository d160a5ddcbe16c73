"""A submission's training log (sent with the bundle, drawn on its page) and episode videos (uploaded after,
checked by their bytes, served as video/mp4), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from leaderboard_testing import Bundles, DatabaseFactory, Server, make_server, mp4

from vla_bench.server import crud
from vla_bench.server.videos import MAX_VIDEOS

SUBMIT = "/api/v1/submissions"
LOG = "step,loss,episode_return,steps_per_s\n500,0.9,,300.5\n1000,0.5,12.5,310\n1500,0.25,20.75,305.25\n"


@pytest.fixture
def media_server(databases: DatabaseFactory, tmp_path: Path) -> Iterator[Server]:
    made = make_server(databases.fresh(), artifacts_dir=tmp_path / "artifacts", max_video_bytes=4096)
    yield made
    made.db.dispose()


@pytest.fixture
def media_client(media_server: Server) -> Iterator[TestClient]:
    with TestClient(media_server.app) as test_client:
        yield test_client


def _submit(client: TestClient, server: Server, bundles: Bundles, log: str | None = LOG) -> int:
    document = bundles.document("random")
    if log is not None:
        document["training_log"] = {"csv": log}
    response = client.post(SUBMIT, json=document, headers=server.user)
    assert response.status_code == 201, response.text
    submission_id: int = response.json()["id"]
    return submission_id


def test_a_training_log_is_stored_served_and_drawn(media_client: TestClient, media_server: Server,
                                                   bundles: Bundles) -> None:
    submission = _submit(media_client, media_server, bundles)
    log = media_client.get(f"{SUBMIT}/{submission}/training-log").json()
    assert log["columns"] == ["step", "loss", "episode_return", "steps_per_s"]
    assert log["rows"][0] == [500, 0.9, None, 300.5] and len(log["rows"]) == 3
    assert media_client.get(f"{SUBMIT}/{submission}").json()["training_log_url"].endswith(
        f"/submissions/{submission}/training-log")
    page = media_client.get(f"/submissions/{submission}").text
    section = page[page.index('id="training"'):page.index("</section>", page.index('id="training"'))]
    assert section.count("<svg") == 3 and section.count('class="curve-line"') == 3  # one chart per measure
    assert "episode_return against the training step (2 values, the last 20.8)" in section
    points = re.findall(r'class="curve-line" points="([^"]+)"', section)[0].split()
    assert len(points) == 3 and float(points[0].split(",")[0]) < float(points[-1].split(",")[0])
    assert "No training log" not in section
    download = json.loads(media_client.get(f"{SUBMIT}/{submission}/bundle").text)
    assert download["training_log"]["csv"].splitlines()[1] == "500,0.9,,300.5"
    again = media_client.post(SUBMIT, json=download, headers=media_server.user)  # the download can be re-sent
    assert again.status_code == 200 and again.json()["duplicate"]


def test_without_a_log_the_page_says_so(media_client: TestClient, media_server: Server, bundles: Bundles) -> None:
    submission = _submit(media_client, media_server, bundles, log=None)
    page = media_client.get(f"/submissions/{submission}").text
    assert "No training log submitted." in page and 'class="curve-line"' not in page
    assert media_client.get(f"{SUBMIT}/{submission}/training-log").status_code == 404
    assert media_client.get(f"{SUBMIT}/{submission}").json()["training_log_url"] is None
    assert "training_log" not in json.loads(media_client.get(f"{SUBMIT}/{submission}/bundle").text)


HOSTILE = {
    "nan": ("step,loss\n1,nan\n", "'nan' is not a plain decimal number"),
    "NaN with spaces": ("step,loss\n1, NaN\n", "is not a plain decimal number"),
    "infinity": ("step,loss\n1,inf\n", "is not a plain decimal number"),
    "1e400": ("step,loss\n1,1e400\n", "1e400 is out of range"),
    "implausible": ("step,loss\n1,1e13\n", "out of range"),
    "hex": ("step,loss\n1,0x10\n", "is not a plain decimal number"),
    "underscore": ("step,loss\n1,1_000\n", "is not a plain decimal number"),
    "text": ("step,loss\n1,low\n", "'low' is not a plain decimal number"),
    "too many rows": ("step,loss\n" + "".join(f"{i},0.5\n" for i in range(5001)), "5001 rows; at most 5000"),
    "too many columns": ("step," + ",".join(f"m{i}" for i in range(16)) + "\n" + ",".join(["1"] * 17) + "\n",
                         "17 columns; at most 16"),
    "no step column": ("loss,step\n0.5,1\n", "the first column must be 'step'"),
    "only step": ("step\n1\n", "at least one measure"),
    "bad column name": ("step,Loss (train)\n1,0.5\n", "is not a lower-case name"),
    "repeated column": ("step,loss,loss\n1,0.5,0.5\n", "repeats a column name"),
    "short row": ("step,loss,kl\n1,0.5\n", "line 2 has 2 cells, but the header has 3 columns"),
    "no rows": ("step,loss\n", "a header line and at least one row"),
    "steps go back": ("step,loss\n10,0.5\n5,0.4\n", "line 3: step must be a number >= 0 that never decreases"),
    "empty step": ("step,loss\n,0.5\n", "step must be a number"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_training_logs_are_refused_by_name_and_nothing_is_stored(
        media_client: TestClient, media_server: Server, bundles: Bundles, case: str) -> None:
    csv, message = HOSTILE[case]
    before = media_server.counts()
    document = bundles.document("random")
    document["training_log"] = {"csv": csv}
    response = media_client.post(SUBMIT, json=document, headers=media_server.user)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "$.training_log.csv" and message in body["detail"], body
    assert media_server.counts() == before


@pytest.mark.parametrize("shape", [[], "step,loss\n1,2\n", {"csv": 3}, {"csv": "step,loss\n1,2\n", "png": "x"}])
def test_a_training_log_of_the_wrong_shape_is_refused(media_client: TestClient, media_server: Server,
                                                      bundles: Bundles, shape: object) -> None:
    document = bundles.document("random")
    document["training_log"] = shape
    response = media_client.post(SUBMIT, json=document, headers=media_server.user)
    assert response.status_code == 422 and response.json()["field"] == "$.training_log", response.text


def test_a_training_log_past_the_size_limit_is_refused_before_parsing(media_client: TestClient, media_server: Server,
                                                                      bundles: Bundles) -> None:
    document = bundles.document("random")
    document["training_log"] = {"csv": "step,loss\n" + "1,0.5\n" * 50_000}
    response = media_client.post(SUBMIT, json=document, headers=media_server.user)
    assert response.status_code == 422 and response.json()["field"] == "$.training_log.csv"
    assert "characters; at most" in response.json()["detail"]


def _put(client: TestClient, server: Server, submission: int, name: str, data: bytes,
         content_type: str = "video/mp4", headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    response = client.put(f"{SUBMIT}/{submission}/videos/{name}", content=data,
                          headers={**(headers or server.user), "Content-Type": content_type})
    return response.status_code, response.json()


def test_videos_are_checked_stored_served_and_shown(media_client: TestClient, media_server: Server,
                                                    bundles: Bundles) -> None:
    submission = _submit(media_client, media_server, bundles)
    assert "<video" not in media_client.get(f"/submissions/{submission}").text  # now in the page cache
    data = mp4(b"frames")
    status, video = _put(media_client, media_server, submission, "hopper-0003.mp4", data)
    assert status == 201, video
    assert video["label"] == "hopper-0003" and video["size_bytes"] == len(data)
    assert _put(media_client, media_server, submission, "hopper-0003.mp4", data)[0] == 200  # the same file again
    served = media_client.get(f"{SUBMIT}/{submission}/videos/{video['id']}")
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "video/mp4" and served.headers["x-content-type-options"] == "nosniff"
    assert "media-src 'self'" in served.headers["content-security-policy"]
    first = media_client.get(f"{SUBMIT}/{submission}/videos/{video['id']}", headers={"Range": "bytes=0-7"})
    assert first.status_code == 206 and first.content == data[:8]  # a player can seek
    assert [v["id"] for v in media_client.get(f"{SUBMIT}/{submission}/videos").json()] == [video["id"]]
    page = media_client.get(f"/submissions/{submission}").text
    assert f'<video controls preload="metadata" width="320" src="/api/v1/submissions/{submission}/videos/' \
           f'{video["id"]}"></video>' in page
    assert re.search(r"<figcaption>hopper #3 · return -?[0-9.]+ · <a ", page)  # the episode it shows
    assert "<strong>video added</strong> by alice — hopper-0003" in page  # the history says so
    assert media_client.get(f"{SUBMIT}/{submission}/videos/{int(str(video['id'])) + 1}").status_code == 404


@pytest.mark.parametrize(("data", "message"), [
    (b"<html><script>alert(1)</script></html>", "it looks like markup"),
    (b"\x1aE\xdf\xa3" + b"\0" * 40, "it looks like a WebM/Matroska file"),
    (b"\0\0\0\x18ftypqt", "too short"),
    (mp4(brand=b"heic"), "is not an MP4 brand"),
    ((9999).to_bytes(4, "big") + b"ftypisom" + b"\0" * 20, "does not start with an ftyp box"),
    (b"", "empty or too short"),
])
def test_videos_with_bad_bytes_are_refused_and_nothing_is_stored(
        media_client: TestClient, media_server: Server, bundles: Bundles, data: bytes, message: str) -> None:
    submission = _submit(media_client, media_server, bundles)
    before = media_server.counts()
    status, body = _put(media_client, media_server, submission, "x.mp4", data)
    assert status == 422 and message in str(body["detail"]), body
    assert media_server.counts() == before
    assert not list((media_server.settings.artifacts_dir or Path("/nonexistent")).rglob("*.mp4"))


def test_video_limits_owner_and_content_type(media_client: TestClient, media_server: Server,
                                             bundles: Bundles) -> None:
    submission = _submit(media_client, media_server, bundles)
    status, body = _put(media_client, media_server, submission, "big.mp4", mp4(b"\0" * 5000))
    assert status == 413 and "VLA_BENCH_MAX_VIDEO_BYTES" in str(body["detail"])
    assert _put(media_client, media_server, submission, "x.mp4", mp4(), content_type="text/html")[0] == 415
    assert _put(media_client, media_server, submission, ".hidden.mp4", mp4())[0] == 422
    assert _put(media_client, media_server, submission + 99, "x.mp4", mp4())[0] == 404
    with media_server.db.write() as session:  # another submitter may not add videos to alice's submission
        bob = crud.create_user(session=session, name="bob")
        _, bob_token = crud.create_token(session=session, user=bob, secret_key=media_server.settings.secret_key)
    assert _put(media_client, media_server, submission, "x.mp4", mp4(),
                headers={"Authorization": f"Bearer {bob_token}"})[0] == 403
    assert media_client.put(f"{SUBMIT}/{submission}/videos/x.mp4", content=mp4(),
                            headers={"Content-Type": "video/mp4"}).status_code == 401
    for index in range(MAX_VIDEOS):
        assert _put(media_client, media_server, submission, f"v{index}.mp4", mp4(bytes([index])))[0] == 201
    status, body = _put(media_client, media_server, submission, "one-more.mp4", mp4(b"more"))
    assert status == 409 and f"already has {MAX_VIDEOS} videos" in str(body["detail"])


def test_deleting_a_submission_deletes_its_log_and_videos(media_client: TestClient, media_server: Server,
                                                              bundles: Bundles) -> None:
    submission = _submit(media_client, media_server, bundles)
    assert _put(media_client, media_server, submission, "a.mp4", mp4())[0] == 201
    assert media_server.counts()["training_logs"] == 1 and media_server.counts()["submission_videos"] == 1
    assert len(list((media_server.settings.artifacts_dir or Path("/nonexistent")).rglob("*.mp4"))) == 1
    assert media_client.delete(f"{SUBMIT}/{submission}", headers=media_server.admin).status_code == 204
    assert media_server.counts()["training_logs"] == 0 and media_server.counts()["submission_videos"] == 0
    assert not list((media_server.settings.artifacts_dir or Path("/nonexistent")).rglob("*.mp4"))  # the file too

