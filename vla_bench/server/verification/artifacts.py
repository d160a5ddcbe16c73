"""Submitted policy artifacts: checked to be a plain ONNX model, then stored on disk by content hash.

An artifact is data the verifier runs with onnxruntime, never code: the bytes must parse as an ONNX
``ModelProto`` that passes ``onnx.checker``, use only the standard operator domains, and keep every weight
inside the file (external-data references would make the verifier open paths the submitter chose). Every
check runs before anything is written, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

ONNX_FORMAT = "onnx"
# operator domains onnxruntime implements itself; anything else needs a custom-op library (code)
ALLOWED_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})
# what other formats look like, to name them in the refusal
_MAGIC = {b"PK\x03\x04": "a zip archive (TorchScript or a PyTorch checkpoint?)", b"\x80": "a Python pickle",
          b"\x89HDF": "an HDF5 file", b"#!": "a script", b"\x7fELF": "an executable"}


class ArtifactRejectedError(Exception):
    """A refused artifact: the HTTP status and the reason."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass(frozen=True)
class CheckedArtifact:
    sha256: str
    size_bytes: int
    format: str
    data: bytes


def _guess(data: bytes) -> str:
    for magic, name in _MAGIC.items():
        if data.startswith(magic):
            return f" (it looks like {name})"
    return ""


def check_artifact(data: bytes, *, expected_sha256: str | None, max_bytes: int) -> CheckedArtifact:
    """Refuse (:class:`ArtifactRejectedError`) anything but an ONNX model of at most ``max_bytes`` whose sha256
    is the bundle's agent sha256."""
    if len(data) > max_bytes:
        raise ArtifactRejectedError(413, f"the artifact is {len(data)} bytes; this server takes at most {max_bytes} "
                                         "(VLA_BENCH_MAX_ARTIFACT_BYTES)")
    if not data:
        raise ArtifactRejectedError(422, "the artifact is empty")
    sha = hashlib.sha256(data).hexdigest()
    if expected_sha256 is None:
        raise ArtifactRejectedError(422, "the bundle's agent has no sha256, so no artifact can be matched to it: "
                                         "evaluate an .onnx agent (or a `vla-bench train` export)")
    if sha != expected_sha256:
        raise ArtifactRejectedError(422, f"the artifact's sha256 is {sha}, but the bundle was produced by the agent "
                                         f"with sha256 {expected_sha256}: upload the model that produced it")
    _check_onnx(data)
    return CheckedArtifact(sha256=sha, size_bytes=len(data), format=ONNX_FORMAT, data=data)


def _check_onnx(data: bytes) -> None:
    import onnx  # noqa: PLC0415 - only uploads need it
    from google.protobuf.message import DecodeError  # noqa: PLC0415

    try:
        model = onnx.load_model_from_string(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ArtifactRejectedError(422, f"the artifact is not an ONNX model{_guess(data)}: {exc}") from None
    if not model.graph.input or not model.graph.output:
        raise ArtifactRejectedError(422, "the ONNX model has no inputs or no outputs")
    foreign = sorted({o.domain for o in model.opset_import} - ALLOWED_DOMAINS)
    if foreign:
        raise ArtifactRejectedError(422, f"the ONNX model uses custom operator domain(s) {', '.join(foreign)}, "
                                         "which need code the verifier does not run")
    tensors = list(model.graph.initializer) + [
        attr.t for node in model.graph.node for attr in node.attribute if attr.HasField("t")]
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors):
        raise ArtifactRejectedError(422, "the ONNX model keeps weights in external files; save it with every "
                                         "tensor inside the one file")
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ArtifactRejectedError(422, f"the artifact is not a valid ONNX model{_guess(data)}: {first}") from None


class ArtifactStore:
    """Content-addressed files ``<root>/<sha[:2]>/<sha>.onnx`` (written atomically; a present file is kept)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def relative_path(self, sha256: str, fmt: str = ONNX_FORMAT) -> str:
        return f"{sha256[:2]}/{sha256}.{fmt}"

    def path(self, relative: str) -> Path:
        return self.root / relative

    def put(self, artifact: CheckedArtifact) -> tuple[str, bool]:
        """Store the bytes; (relative path, whether this call created the file)."""
        relative = self.relative_path(artifact.sha256, artifact.format)
        target = self.path(relative)
        if target.is_file() and target.stat().st_size == artifact.size_bytes:
            return relative, False
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(artifact.data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return relative, True

    def remove(self, relative: str) -> None:
        self.path(relative).unlink(missing_ok=True)

    def read_verified(self, relative: str, sha256: str) -> Path:
        """The stored file, after checking it still has its hash (a worker runs nothing that changed on disk)."""
        path = self.path(relative)
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != sha256:
            raise ArtifactRejectedError(500, f"stored artifact {relative} no longer has sha256 {sha256}")
        return path
