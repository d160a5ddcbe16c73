"""The version handshake between the orchestrator and an env worker.

The worker may run in another interpreter (a benchmark runtime), so the two sides may not run the same
vla_bench code. The orchestrator's hello carries its identity; the worker answers with its own, and
either side refuses a mismatch: the episodes then fail naming both versions instead of mis-decoding
messages. Identity = the worker message protocol number, the vla_bench version, and a fingerprint of the
source files that execute on both sides (a runtime that runs a stale copy of an edited checkout shows up
even when the version string did not change).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from vla_bench.harness.provenance import harness_version

# Bump when a message of env_worker.py changes shape: a worker of another number cannot serve this one.
WORKER_PROTOCOL = 3  # 3: typed messages (spec/messages.py), policy placement

_PACKAGE = Path(__file__).resolve().parents[1]
_FINGERPRINTED = ("spec", "benchmarks", "harness")  # the code a worker runs; server/web/agents never do


def source_fingerprint() -> str:
    """sha256 (first 16 hex digits) over the worker-side source files of this vla_bench, path and content.

    Read from disk at every call (a few ms), not cached: a long run whose checkout is edited meanwhile starts
    its later workers from the edited files, which are what both sides must agree on."""
    digest = hashlib.sha256()
    files = [_PACKAGE / "__init__.py", _PACKAGE / "threads.py"]
    for part in _FINGERPRINTED:
        files.extend(sorted((_PACKAGE / part).rglob("*.py")))
    for path in files:
        digest.update(path.relative_to(_PACKAGE).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def identity() -> dict[str, str | int]:
    """What one side tells the other about itself."""
    return {
        "worker_protocol": WORKER_PROTOCOL,
        "vla_bench": harness_version(),
        "fingerprint": source_fingerprint(),
        "python": sys.executable,
        "python_version": sys.version.split()[0],
    }


def _unversioned(side: str) -> str:
    return (f"env worker version mismatch: the {side} sent no version (an older vla_bench without the "
            f"version handshake); install the same vla_bench where the workers run "
            f"(e.g. on every Ray node)")


def mismatch(orchestrator: object, worker: object) -> str | None:
    """Why this worker cannot serve this orchestrator (``None`` when it can); either side may be what a peer
    sent, so anything is accepted."""
    if not isinstance(orchestrator, dict) or "worker_protocol" not in orchestrator:
        return _unversioned("orchestrator")
    if not isinstance(worker, dict) or "worker_protocol" not in worker:
        return _unversioned("env worker")
    if (orchestrator["worker_protocol"], orchestrator.get("fingerprint")) == (
            worker["worker_protocol"], worker.get("fingerprint")):
        return None
    return (f"env worker version mismatch: the orchestrator runs vla_bench {orchestrator.get('vla_bench', '?')} "
            f"(worker protocol {orchestrator['worker_protocol']}, source {orchestrator.get('fingerprint', '?')}), "
            f"the env worker in {worker.get('python', '?')} runs vla_bench {worker.get('vla_bench', '?')} "
            f"(worker protocol {worker['worker_protocol']}, source {worker.get('fingerprint', '?')}); "
            f"install the same vla_bench where the workers run (e.g. on every Ray node)")
