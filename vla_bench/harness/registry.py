"""The harness's name lookups: an adapter by benchmark name (or ``module:attr``) and the agents `list` shows.

Protocol discovery lives in ``vla_bench.protocols`` (the server reads it without the harness)."""

from __future__ import annotations

import functools
from typing import cast

from vla_bench.benchmarks import BENCHMARKS
from vla_bench.benchmarks.base import BenchmarkAdapter
from vla_bench.spec.registry import import_target


@functools.cache
def resolve_adapter(name: str) -> BenchmarkAdapter:
    """A registered adapter by name, or any adapter class by ``module:attr`` (how tests plug in fakes)."""
    adapter_class = cast(type[BenchmarkAdapter], import_target(name)) if ":" in name else BENCHMARKS.get(name)
    return adapter_class()


def agent_names() -> dict[str, str]:
    from vla_bench.agents.baselines import BASELINES  # noqa: PLC0415

    names = {f"baseline:{name}": BASELINES.description(name) for name in BASELINES}
    names.update({
        "path/to/model.onnx": "an ONNX policy (input 'state' or 'image_<camera>', output actions)",
        "path/to/model.pt": "a TorchScript policy: forward(state[B, D]) -> actions[B, A]",
        "package.module:factory": "your own Python policy factory",
        "ws://HOST:PORT[?keys=PRESET]": "a remote policy server speaking openpi's websocket protocol "
                                        "(e.g. `vla-bench serve-policy`, an openpi server; presets: "
                                        "vla-bench, openpi-libero, lerobot)",
        "vlaeval://HOST:PORT[?keys=PRESET]": "a vla-eval model server (allenai's vla-eval protocol 1; presets: "
                                             "vla-eval, vla-eval-libero, vla-eval-libero-noproprio)",
        "lerobot:PATH_OR_REPO_ID": "a LeRobot PreTrainedPolicy, run in the lerobot runtime "
                                   "(`vla-bench setup lerobot`)",
    })
    return names
