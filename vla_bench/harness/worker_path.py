"""The ``sys.path`` an env worker gets: the orchestrator's, without the user's working directory.

``vla-bench eval`` puts the working directory on ``sys.path`` so that ``--agent my_module:make`` imports, but the
env workers run the simulator, not the agent: a folder in the working directory named like a simulator package
(the ``calvin_env/`` checkout beside one's own code, the layout CALVIN's documented steps produce) would become a
namespace package there and shadow the installed one. So the working directory reaches a worker only when the
agent itself runs in it (worker placement of a Python factory imported from there).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def _is_cwd(entry: str, cwd: Path) -> bool:
    if entry in ("", "."):
        return True
    try:
        return Path(entry).resolve() == cwd
    except OSError:
        return False


def agent_module_dir(agent_spec: str | None, paths: Sequence[str], cwd: Path | None = None) -> str | None:
    """The ``sys.path`` entry a ``package.module:factory`` agent is imported from, or None (not a Python agent,
    or not importable from any entry)."""
    if not agent_spec or ":" not in agent_spec or agent_spec.startswith(("baseline:", "ws://", "wss://")):
        return None
    top = agent_spec.split(":", 1)[0].split(".")[0]
    base = cwd or Path.cwd()
    for entry in paths:
        folder = base / entry  # "" is the working directory; an absolute entry stays itself
        if (folder / f"{top}.py").is_file() or (folder / top).is_dir():
            return entry
    return None


def worker_sys_path(paths: Sequence[str], *, agent_spec: str | None = None, cwd: str | None = None) -> list[str]:
    """``paths`` without the working directory, unless the agent placed in the worker is imported from it."""
    here = Path(cwd or os.getcwd()).resolve()
    needed = agent_module_dir(agent_spec, paths, here)
    return [p for p in paths if not _is_cwd(p, here) or (needed is not None and p == needed)]
