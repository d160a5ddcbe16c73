"""The pure bundle checks: content hashing and score comparison details the API tests do not reach."""

from __future__ import annotations

import json

import pytest
from leaderboard_testing import Bundles

from vla_bench.server.validation import BundleRejectedError, episodes_sha256, parse_body, validate_bundle
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
    accepted_mean = validate_bundle(document, rel_tol=1e-6).scores["aggregate"]["mean"]
    assert accepted_mean is not None
    assert accepted_mean["mean"] == pytest.approx(document["summary"]["scores"]["aggregate"]["mean"]["mean"])
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


def test_a_summary_its_schema_takes_but_the_model_cannot_read_is_a_named_422(bundles: Bundles) -> None:
    # JSON Schema's "integer" takes 1e300 (a float without a fraction); the typed Summary's int does not
    document = bundles.document("random")
    document["summary"]["scores"]["tasks"]["hopper"]["errors"] = {"policy_error": 1e300}
    body = json.dumps(document).encode()
    with pytest.raises(BundleRejectedError, match="passes its JSON Schema but not the summary model") as refused:
        validate_bundle(parse_body(body))
    assert refused.value.status_code == 422
    assert refused.value.field == "$.summary.scores.tasks.hopper.errors.policy_error"
    assert refused.value.errors[0].startswith("$.summary.scores.tasks.hopper.errors.policy_error: ")
    assert refused.value.to_json()["field"] == refused.value.field


def test_the_summary_is_read_as_the_typed_model_and_stored_as_sent(bundles: Bundles) -> None:
    document = bundles.document("random")
    accepted = validate_bundle(document)
    assert accepted.summary_json == document["summary"]  # the document as it came, for the database
    assert accepted.summary.protocol.id == "mujoco/hopper@v1" == document["summary"]["protocol"]["id"]
    assert accepted.summary.agent.name == document["summary"]["agent"]["name"]
    assert accepted.summary.n_episodes_done == len(accepted.records) == 50
