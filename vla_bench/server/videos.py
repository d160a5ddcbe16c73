"""Episode videos of a submission: MP4 files checked by their bytes, then stored on disk by content hash.

A video is shown to every visitor of the submission's page, so the server keeps to what it can vouch for: an
ISO base-media file whose first box is ``ftyp`` with an MP4 brand (what ``vla-bench eval --record`` writes),
of bounded size and number per submission. It is served as ``video/mp4`` with ``nosniff``, never as what
its name or the uploader's Content-Type claims. Every check runs before anything is written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from vla_bench.server.verification.artifacts import ArtifactStore, CheckedArtifact

MEDIA_TYPE = "video/mp4"
VIDEO_FORMAT = "mp4"
MAX_VIDEOS = 8  # per submission: a few illustrative episodes, not the evaluation
# ftyp major brands of MP4 files (ISO/IEC 14496-12/-14, 3GPP and Apple's QuickTime-compatible MP4s)
MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ",
                        b"M4A ", b"mmp4", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"qt  "})
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_MAGIC = {b"\x1aE\xdf\xa3": "a WebM/Matroska file", b"RIFF": "a RIFF (AVI or WAV) file", b"GIF8": "a GIF image",
          b"\x89PNG": "a PNG image", b"<": "markup (HTML or SVG)", b"PK\x03\x04": "a zip archive"}


class VideoRejectedError(Exception):
    """A refused upload: the HTTP status and the reason."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def check_label(label: str) -> str:
    """A video's name on the page (the file's name without ``.mp4``): letters, digits, ``._-``."""
    stem = label.removesuffix(".mp4")
    if not LABEL.match(stem):
        raise VideoRejectedError(422, f"video name {stem[:60]!r} must be 1 to 100 letters, digits, '.', '_' or '-' "
                                      "(starting with a letter or digit)")
    return stem


def check_video(data: bytes, *, max_bytes: int) -> CheckedArtifact:
    """Refuse (:class:`VideoRejectedError`) anything but an MP4 of at most ``max_bytes``."""
    if len(data) > max_bytes:
        raise VideoRejectedError(413, f"the video is {len(data)} bytes; this server takes at most {max_bytes} "
                                      "(VLA_BENCH_MAX_VIDEO_BYTES)")
    if len(data) < 16:
        raise VideoRejectedError(422, "the video is empty or too short to be an MP4 file")
    box_size = int.from_bytes(data[:4], "big")
    if data[4:8] != b"ftyp" or not 16 <= box_size <= min(len(data), 4096) or box_size % 4:
        raise VideoRejectedError(422, f"the file is not an MP4 video: it does not start with an ftyp box{_guess(data)}")
    if data[8:12] not in MP4_BRANDS:
        raise VideoRejectedError(422, f"the file's ftyp brand {data[8:12]!r} is not an MP4 brand")
    return CheckedArtifact(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), format=VIDEO_FORMAT,
                           data=data)


def _guess(data: bytes) -> str:
    for magic, name in _MAGIC.items():
        if data.startswith(magic):
            return f" (it looks like {name})"
    return ""


@dataclass(frozen=True)
class VideoStore:
    """``<root>/<sha[:2]>/<sha>.mp4``, written atomically (the artifact store's layout and writer)."""

    root: Path

    def put(self, video: CheckedArtifact) -> str:
        relative, _ = ArtifactStore(self.root).put(video)
        return relative

    def path(self, relative: str) -> Path:
        return self.root / relative
