"""msgpack with numpy arrays, never pickle: the one encoding for every process boundary of vla-bench.

Arrays travel as the map ``{b"__ndarray__": True, b"data": raw, b"dtype": dtype.str, b"shape": [...]}`` and
numpy scalars as ``{b"__npgeneric__": True, b"data": item, b"dtype": dtype.str}`` (bytes keys: the layout of
openpi-client 0.1.2, so the same encoder serves env workers and openpi-compatible policy servers). Object,
void and complex dtypes are refused on both sides: they could smuggle arbitrary Python objects.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import numpy as np

_ND = b"__ndarray__"
_NG = b"__npgeneric__"
_REFUSED_KINDS = frozenset("OVc")


class WireError(ValueError):
    """A message that cannot be encoded or decoded safely."""


def _check_dtype(dtype: np.dtype[Any]) -> None:
    if dtype.kind in _REFUSED_KINDS:
        raise WireError(f"refusing numpy dtype {dtype.str!r} (object, void and complex arrays are not allowed)")


def _encode_default(obj: object) -> object:
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype)
        return {_ND: True, b"data": np.ascontiguousarray(obj).tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        _check_dtype(obj.dtype)
        return {_NG: True, b"data": obj.item(), b"dtype": obj.dtype.str}
    if isinstance(obj, tuple):
        return list(obj)
    raise WireError(f"cannot encode object of type {type(obj).__name__}")


def _decode_hook(obj: dict[Any, Any]) -> Any:
    if _ND in obj:
        if not all(isinstance(n, int) and n >= 0 for n in obj[b"shape"]):
            raise WireError(f"ndarray shape {obj[b'shape']!r} is not a list of sizes")
        dtype = np.dtype(_as_str(obj[b"dtype"]))
        _check_dtype(dtype)
        shape = tuple(obj[b"shape"])
        data = obj[b"data"]
        expected = math.prod(shape) * dtype.itemsize  # math.prod: np.prod costs ~4 µs per call
        if len(data) != expected:
            raise WireError(f"ndarray payload has {len(data)} bytes, shape {shape} of {dtype.str} needs {expected}")
        # a copy: msgpack's buffer may leave the array unaligned (numpy's slow paths) and is read-only
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if _NG in obj:
        dtype = np.dtype(_as_str(obj[b"dtype"]))
        _check_dtype(dtype)
        return dtype.type(obj[b"data"])
    return obj


def _as_str(value: object) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


def packb(obj: object) -> bytes:
    try:
        packed: bytes = msgpack.packb(obj, default=_encode_default, use_bin_type=True)  # msgpack has no stubs
        return packed
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(str(exc)) from exc


def unpackb(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, object_hook=_decode_hook, raw=False, strict_map_key=False)
    except WireError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise WireError(f"malformed message: {exc}") from exc
