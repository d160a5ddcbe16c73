"""The training log's parser on its own: what it keeps (empty cells, integers, exponents, CRLF) and the CSV it
writes back. Refusals of hostile logs through the API are in tests/server/api/routes/test_media.py."""

from __future__ import annotations

import pytest

from vla_bench.server.bundle_limits import Refusal
from vla_bench.server.training_log import TrainingLog, parse_training_log


def test_a_log_parses_to_columns_and_typed_rows() -> None:
    log = parse_training_log({"csv": "step,loss,kl\r\n0,1.5e-3,\r\n10,-2,.5\r\n\r\n"})
    assert log.columns == ("step", "loss", "kl")
    assert log.rows == ((0, 0.0015, None), (10, -2, 0.5))
    assert isinstance(log.rows[1][1], int)
    assert log.series("kl") == [(10.0, 0.5)]
    assert log.to_csv() == "step,loss,kl\n0,0.0015,\n10,-2,0.5\n"
    assert TrainingLog.from_json(log.to_json()) == log
    assert parse_training_log({"csv": log.to_csv()}) == log


def test_equal_steps_are_allowed_and_a_tiny_number_is_zero() -> None:
    log = parse_training_log({"csv": "step,loss\n5,1e-400\n5,2\n"})
    assert log.rows == ((5, 0.0), (5, 2))


@pytest.mark.parametrize("text", ["step,loss\n1,+2\n", "step,loss\n1,2e\n", "step,loss\n1,--2\n", "step,loss\n1, 2\n",
                                  "step,loss\n1,2\u00a0\n", "step,loss\n1,\u0661\n"])
def test_anything_but_a_plain_decimal_is_refused(text: str) -> None:
    with pytest.raises(Refusal, match="not a plain decimal number"):
        parse_training_log({"csv": text})
