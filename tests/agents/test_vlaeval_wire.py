"""vla-eval's message format: frames round-trip; malformed, smuggling or decompression-bomb frames are refused."""

from __future__ import annotations

import io
import struct
import zlib

import msgpack
import numpy as np
import pytest
from PIL import Image

from vla_bench.agents.vlaeval_wire import MAX_IMAGE_PIXELS, VlaEvalWireError, pack, unpack


def _frame(payload: object, kind: str = "observation", seq: object = 3) -> bytes:
    return msgpack.packb({"type": kind, "payload": payload, "seq": seq, "timestamp": 0.0}, use_bin_type=True)


def _png(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header then claims ``width`` x ``height`` (CRC fixed, so only the size lies)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_messages_round_trip_with_arrays_and_scalars() -> None:
    state = np.arange(5, dtype=np.float64)
    kind, payload, seq = unpack(pack("observation", {"state": state, "n": np.int64(4), "t": (1, 2)}, 9))
    assert (kind, seq) == ("observation", 9)
    decoded = payload["state"]
    assert isinstance(decoded, np.ndarray)
    np.testing.assert_array_equal(decoded, state)
    assert decoded.dtype == np.float64 and payload["n"] == 4 and payload["t"] == [1, 2]


def test_vla_eval_encoded_images_decode() -> None:
    pytest.importorskip("vla_eval")
    from vla_eval.protocol.messages import Message, MessageType, pack_message
    from vla_eval.protocol.numpy_codec import set_image_format

    image = np.random.default_rng(0).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    for image_format in ("png", "raw"):
        set_image_format(image_format)
        try:
            frame = pack_message(Message(MessageType.OBSERVATION, {"images": {"cam": image}}, seq=2))
        finally:
            set_image_format("png")
        images = unpack(frame)[1]["images"]
        assert isinstance(images, dict)
        np.testing.assert_array_equal(images["cam"], image)


def test_bad_frames_are_refused_clearly() -> None:
    with pytest.raises(VlaEvalWireError, match="text frame"):
        unpack("hello")
    with pytest.raises(VlaEvalWireError, match="unknown message type 'shutdown'"):
        unpack(_frame({}, kind="shutdown"))
    with pytest.raises(VlaEvalWireError, match="seq must be an integer"):
        unpack(_frame({}, seq="3"))
    with pytest.raises(VlaEvalWireError, match=r"without \['seq', 'timestamp'\]"):
        unpack(msgpack.packb({"type": "hello", "payload": {}}))
    with pytest.raises(VlaEvalWireError, match="disallowed numpy dtype"):
        unpack(_frame({"x": {"__ndarray__": True, "data": b"\0" * 8, "dtype": "|O", "shape": [1]}}))
    with pytest.raises(VlaEvalWireError, match="does not hold shape"):
        unpack(_frame({"x": {"__ndarray__": True, "data": b"\0" * 4, "dtype": "<f4", "shape": [1000, 1000]}}))
    with pytest.raises(VlaEvalWireError, match="malformed message"):
        unpack(b"\xc1garbage")
    with pytest.raises(VlaEvalWireError, match="only bool/int/uint/float"):
        pack("action", {"actions": np.zeros(2, dtype=object)}, 1)


def test_a_small_png_claiming_a_huge_size_is_refused_before_decompression() -> None:
    side = int(MAX_IMAGE_PIXELS**0.5) + 1
    bomb = {"__image__": True, "format": "png", "data": _png(side, side), "shape": [side, side, 3]}
    with pytest.raises(VlaEvalWireError, match=f"a {side}x{side} image is over the limit"):
        unpack(_frame({"images": {"cam": bomb}}))
    corrupt = {"__image__": True, "format": "png", "data": b"\x89PNG nope", "shape": [1, 1, 3]}
    with pytest.raises(VlaEvalWireError, match="unreadable png image"):
        unpack(_frame({"images": {"cam": corrupt}}))
