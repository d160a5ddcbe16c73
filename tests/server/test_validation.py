"""The pure bundle checks: content hashing and score comparison details the API tests do not reach."""

from __future__ import annotations

import pytest
from leaderboard_testing import Bundles

from vla_bench.server.validation import BundleRejectedError, episodes_sha256, validate_bundle
from vla_bench.spec import EpisodeRecord


def test_the_episode_hash_ignores_order_and_timings_but_not_outcomes(bundles: Bundles) -> None:
    records = [EpisodeRecord.from_json(line) for line in bundles.document("random")["episodes"]]
    reference = episodes_sha256(records)
    shuffled = list(reversed(records))
    for record in shuffled:
        record.timings = {"wall_s": 99.0}
    assert episodes_sha256(shuffled) == reference
    shuffled[0].length += 1
    assert episodes_sha256(shuffled) != reference


def test_claimed_scores_within_the_tolerance_are_accepted(bundles: Bundles) -> None:
    document = bundles.document("random")
    document["summary"]["scores"]["aggregate"]["mean"]["mean"] *= 1 + 1e-9  # float noise, e.g. another libm
    assert validate_bundle(document, rel_tol=1e-6).scores["aggregate"]["mean"]["mean"] == pytest.approx(
        document["summary"]["scores"]["aggregate"]["mean"]["mean"])
    with pytest.raises(BundleRejectedError, match="claimed score differs"):
        validate_bundle(document, rel_tol=1e-12)


def test_a_claimed_score_field_the_server_does_not_compute_is_refused(bundles: Bundles) -> None:
    document = bundles.document("random")
    document["summary"]["scores"]["tasks"]["hopper"]["success_rate"] = {"mean": 1.0, "ci95": [1.0, 1.0]}
    with pytest.raises(BundleRejectedError) as refused:
        validate_bundle(document)
    assert refused.value.field == "$.summary.scores.tasks.hopper.success_rate"


def test_far_too_many_episode_records_are_refused_before_checking_each(bundles: Bundles) -> None:
    document = bundles.document("random")
    document["episodes"] = document["episodes"] * 3
    with pytest.raises(BundleRejectedError, match="has 150 episode records, but mujoco/hopper@v1 plans 50") as refused:
        validate_bundle(document)
    assert refused.value.field == "$.episodes"


def test_deeply_nested_json_is_a_400_not_a_crash() -> None:
    from vla_bench.server.validation import parse_body

    with pytest.raises(BundleRejectedError, match="nested too deeply") as refused:
        parse_body(b"[" * 200_000 + b"]" * 200_000)
    assert refused.value.status_code == 400
