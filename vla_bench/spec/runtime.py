"""What a benchmark needs installed: its runtime, declared by the adapter, built by ``vla-bench setup``.

Some benchmarks pin stacks that cannot share one environment (LIBERO's robosuite 1.4 beside robosuite 1.5,
CALVIN's own code that is not on PyPI). Each declares a :class:`RuntimeSpec`; when the orchestrator's own
interpreter does not satisfy it, the env workers run in a separate interpreter built for it (or adopted with
``vla-bench setup --python``) and speak the same msgpack protocol over a socket pair. This module is only the
declaration; building, adopting and checking runtimes is ``vla_bench.runtimes``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    """the runtime's name, usually the benchmark's (``libero``)"""
    requirements: tuple[str, ...]
    """pip requirement strings, pinned (``robosuite==1.4.0``); the interpreter must satisfy all of them"""
    python: str = ">=3.11"
    """PEP 440 specifier the interpreter's version must satisfy (the env worker itself needs >= 3.11)"""
    imports: tuple[str, ...] = ()
    """modules that must import in the runtime (checked by ``vla-bench doctor``)"""
    env: Mapping[str, str] = field(default_factory=dict)
    """environment variables the env workers need (values may use ``{runtime_dir}``)"""
    user_provided: str = ""
    """what pip cannot install and the user must bring (assets, a dataset folder, a source checkout)"""

    def key(self) -> str:
        """Short hash of what is installed: a changed requirement builds a new runtime directory."""
        payload = json.dumps({"requirements": sorted(self.requirements), "python": self.python}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]
