"""Policies exported by the reference trainers: ``model.onnx`` + ``manifest.json`` in one directory.

``--agent DIR/model.onnx`` already runs such a model (any ONNX file does); this module adds the manifest:
:func:`load_exported` checks the model against it (hash, sizes) and records it in the agent's identity, and
:func:`bundled_agent` finds the baselines the project commits under ``results/agents/NAME/`` so that
``baseline:NAME`` loads them. No trainer code and no torch are needed to run them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vla_bench.agents.digest import file_sha256
from vla_bench.agents.policy import LoadedAgent, is_batched
from vla_bench.spec.errors import UserError

MANIFEST = "manifest.json"
MODEL = "model.onnx"
MANIFEST_FORMAT = "vla-bench-exported-policy/1"
# where committed baseline agents live; VLA_BENCH_AGENTS_DIR overrides (e.g. an installed copy)
AGENTS_DIR = Path(__file__).resolve().parents[2] / "results" / "agents"
_IDENTITY_KEYS = ("algo", "protocol", "dataset", "steps", "seed", "obs_dim", "action_dim", "chunk")


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{directory} has no {MANIFEST}: it is not a directory written by `vla-bench train`") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from exc
    if manifest.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path}: format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    return manifest


def is_exported(directory: Path) -> bool:
    """Whether ``directory`` holds a manifest written by ``vla-bench train`` (any other manifest.json is not ours)."""
    try:
        return bool(json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def load_exported(path: str | os.PathLike[str], *, name: str | None = None) -> LoadedAgent:
    """An exported policy from its directory, its ``model.onnx`` or its ``manifest.json``."""
    from vla_bench.agents.onnx_policy import load_onnx  # noqa: PLC0415 - onnxruntime only when used

    target = Path(path).expanduser()
    directory = target if target.is_dir() else target.parent
    manifest = read_manifest(directory)
    model = directory / manifest.get("model", {}).get("file", MODEL)
    if not model.is_file():
        raise UserError(f"{directory}: the manifest names {model.name}, which is missing")
    sha = file_sha256(model)
    expected = manifest.get("model", {}).get("sha256")
    if expected and expected != sha:
        raise UserError(f"{model} does not match its manifest (sha256 {sha[:12]}… vs {str(expected)[:12]}…): "
                        "the model was replaced or corrupted; re-export it with `vla-bench train`")
    context = manifest.get("context")
    if context:  # a sequence model (Decision Transformer): one stateful policy per episode, sessions shared
        from vla_bench.agents.dt_policy import context_factory  # noqa: PLC0415 - numpy + onnxruntime

        loaded = LoadedAgent(spec=str(model), kind="onnx", factory=context_factory(directory, context, model),
                             name=model.stem, sha256=sha, details={"context": context})
    else:
        loaded = load_onnx(model, sha)
    loaded.details["manifest"] = {k: manifest.get(k) for k in _IDENTITY_KEYS}
    conditioning = manifest.get("conditioning")
    if conditioning:
        from vla_bench.agents.conditioning import KIND, InstructionOneHot  # noqa: PLC0415

        if conditioning.get("kind") != KIND:
            raise UserError(f"{directory}: unknown conditioning {conditioning.get('kind')!r} (this version knows "
                            f"{KIND!r}); upgrade vla-bench")
        inner = loaded.factory()
        if not is_batched(inner):
            raise UserError(f"{directory}: instruction conditioning needs a batched policy (act_batch); this "
                            f"{loaded.kind} policy has none")
        wrapped = InstructionOneHot(inner, conditioning["instructions"])
        loaded.factory = lambda: wrapped
        loaded.details["conditioning"] = conditioning
    if name is not None:
        loaded.name = name
    return loaded


def agents_dir() -> Path:
    return Path(os.environ.get("VLA_BENCH_AGENTS_DIR") or AGENTS_DIR)


def bundled_names() -> list[str]:
    root = agents_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{MANIFEST}")) if root.is_dir() else []


def bundled_agent(name: str) -> LoadedAgent | None:
    """``baseline:NAME`` for a committed exported policy in ``results/agents/NAME/``, or None."""
    directory = agents_dir() / name
    if "/" in name or name.startswith(".") or not (directory / MANIFEST).is_file():
        return None
    loaded = load_exported(directory, name=f"baseline:{name}")
    loaded.spec, loaded.kind = f"baseline:{name}", "baseline"
    return loaded
