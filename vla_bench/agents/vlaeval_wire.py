"""vla-eval's websocket message format (vla-eval 0.8.0, ``vla_eval.protocol``), written from its facts.

Every frame is one binary msgpack map ``{"type", "payload", "seq", "timestamp"}``. ``type`` is one of
``hello``, ``episode_start``, ``observation``, ``action``, ``episode_end``, ``error``; ``seq`` is the
sender's counter (an ``action`` or ``error`` echoes the ``seq`` of the observation it answers); ``timestamp``
is Unix seconds. Arrays are maps ``{"__ndarray__": true, "data": bytes, "dtype": str, "shape": [...]}``
(string keys, unlike openpi's); vla-eval's client sends HWC uint8 images as
``{"__image__": true, "format": "raw"|"png"|"jpeg", "data": bytes, "shape": [...]}`` (PNG by default).
Only bool, int, uint and float arrays are accepted. Decoded images are bounded in pixels before they are
decompressed, so a small PNG cannot expand into gigabytes.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping

import msgpack
import numpy as np
from numpy.typing import NDArray

PROTOCOL_VERSION = 1
TYPES = frozenset({"hello", "episode_start", "observation", "action", "episode_end", "error"})
MAX_IMAGE_PIXELS = 1 << 26  # 64 Mpixel: e.g. eight 4K cameras, far from exhausting memory
_ALLOWED_KINDS = frozenset("biuf")
_ND = "__ndarray__"
_IMAGE = "__image__"


class VlaEvalWireError(ValueError):
    """A frame that is not a valid vla-eval message."""


def _encode(obj: object) -> object:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in _ALLOWED_KINDS:
            raise VlaEvalWireError(f"refusing numpy dtype {obj.dtype.str!r}: only bool/int/uint/float arrays travel")
        return {_ND: True, "data": np.ascontiguousarray(obj).tobytes(), "dtype": obj.dtype.str,
                "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise VlaEvalWireError(f"cannot encode an object of type {type(obj).__name__}")


def _array(data: object, dtype_text: object, shape: object) -> NDArray[np.generic]:
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise VlaEvalWireError(f"array shape {shape!r} is not a list of sizes")
    try:
        dtype = np.dtype(str(dtype_text))
    except TypeError as exc:
        raise VlaEvalWireError(f"unknown array dtype {dtype_text!r}") from exc
    if dtype.kind not in _ALLOWED_KINDS:
        raise VlaEvalWireError(f"disallowed numpy dtype {dtype.str!r}: only bool/int/uint/float are permitted")
    if not isinstance(data, bytes) or len(data) != math.prod(shape) * dtype.itemsize:
        raise VlaEvalWireError(f"array payload does not hold shape {shape} of {dtype.str}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _image(obj: Mapping[object, object]) -> NDArray[np.generic]:
    fmt, data = obj.get("format"), obj.get("data")
    if fmt == "raw":
        return _array(data, obj.get("dtype", "|u1"), obj.get("shape"))
    if fmt not in ("png", "jpeg") or not isinstance(data, bytes):
        raise VlaEvalWireError(f"unknown image encoding {fmt!r}: expected raw, png or jpeg")
    from PIL import Image  # noqa: PLC0415 - only for compressed images

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size  # read from the header: nothing decompressed yet
            if width * height > MAX_IMAGE_PIXELS:
                raise VlaEvalWireError(f"a {width}x{height} image is over the limit of {MAX_IMAGE_PIXELS} pixels")
            return np.array(image)
    except VlaEvalWireError:
        raise
    except Exception as exc:  # PIL raises many kinds for corrupt data
        raise VlaEvalWireError(f"unreadable {fmt} image: {exc}") from exc


def _decode_hook(obj: dict[object, object]) -> object:
    if obj.get(_IMAGE) is True:
        return _image(obj)
    if obj.get(_ND) is True:
        return _array(obj.get("data"), obj.get("dtype"), obj.get("shape"))
    return obj


def pack(kind: str, payload: Mapping[str, object], seq: int) -> bytes:
    try:
        packed: bytes = msgpack.packb({"type": kind, "payload": payload, "seq": seq, "timestamp": time.time()},
                                      default=_encode, use_bin_type=True)  # msgpack has no stubs
        return packed
    except (TypeError, ValueError, OverflowError) as exc:
        raise VlaEvalWireError(f"cannot encode a {kind} message: {exc}") from exc


def unpack(data: bytes | str) -> tuple[str, dict[str, object], int]:
    """``(type, payload, seq)`` of one frame, checked."""
    if isinstance(data, str):
        raise VlaEvalWireError("a text frame is not a vla-eval message (messages are binary msgpack)")
    try:
        raw = msgpack.unpackb(data, object_hook=_decode_hook, raw=False, strict_map_key=False)
    except VlaEvalWireError:
        raise
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise VlaEvalWireError(f"malformed message ({len(data)} bytes): {exc}") from exc
    if not isinstance(raw, dict):
        raise VlaEvalWireError(f"a message must be a map, not {type(raw).__name__}")
    missing = [key for key in ("type", "payload", "seq", "timestamp") if key not in raw]
    if missing:
        raise VlaEvalWireError(f"message without {missing} (keys: {sorted(map(str, raw))})")
    kind, payload, seq = raw["type"], raw["payload"], raw["seq"]
    if kind not in TYPES:
        raise VlaEvalWireError(f"unknown message type {kind!r}; known: {sorted(TYPES)}")
    if not isinstance(payload, dict):
        raise VlaEvalWireError(f"the payload of a {kind} message must be a map, not {type(payload).__name__}")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise VlaEvalWireError(f"seq must be an integer, not {seq!r}")
    return kind, payload, seq
