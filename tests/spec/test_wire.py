"""The msgpack-numpy encoding: round trips, the openpi layout, and refusal of unsafe dtypes."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import pytest

from vla_bench.spec.wire import WireError, packb, unpackb


def test_nested_arrays_round_trip_exactly_and_writable() -> None:
    message: dict[str, Any] = {"state": np.arange(11, dtype=np.float32),
                               "images": {"front": np.ones((4, 5, 3), np.uint8)},
                               "instruction": "pick", "scalar": np.float32(2.5), "items": [1, None, True]}
    decoded = unpackb(packb(message))
    assert decoded["state"].dtype == np.float32
    np.testing.assert_array_equal(decoded["state"], message["state"])
    assert decoded["images"]["front"].shape == (4, 5, 3)
    assert decoded["images"]["front"].flags.writeable
    assert decoded["scalar"] == 2.5 and isinstance(decoded["scalar"], np.float32)
    assert decoded["instruction"] == "pick"


def test_arrays_use_openpi_client_layout_with_bytes_keys() -> None:
    raw = msgpack.unpackb(packb(np.zeros((2, 3), np.float32)), raw=False)
    assert raw[b"__ndarray__"] is True
    assert raw[b"dtype"] == "<f4"
    assert raw[b"shape"] == [2, 3]
    assert len(raw[b"data"]) == 24


@pytest.mark.parametrize("array", [np.array([object()]), np.zeros(2, np.complex64), np.zeros(2, "V4")])
def test_unsafe_dtypes_are_refused_when_packing(array: np.ndarray) -> None:
    with pytest.raises(WireError, match="refusing numpy dtype"):
        packb(array)


def test_unsafe_dtypes_and_bad_payloads_are_refused_when_unpacking() -> None:
    forged = msgpack.packb({b"__ndarray__": True, b"data": b"x" * 8, b"dtype": "|O", b"shape": [1]})
    with pytest.raises(WireError, match="refusing"):
        unpackb(forged)
    short = msgpack.packb({b"__ndarray__": True, b"data": b"x" * 3, b"dtype": "<f4", b"shape": [1]})
    with pytest.raises(WireError, match="needs 4"):
        unpackb(short)
    with pytest.raises(WireError, match="malformed"):
        unpackb(b"\xc1")
    with pytest.raises(WireError, match="cannot encode"):
        packb({"f": object()})
