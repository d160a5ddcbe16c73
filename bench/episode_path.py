"""How many vla_bench modules one evaluation's path runs through (issue #14's "one episode touches <= 12 modules").

Runs ``vla-bench eval --agent baseline:random --protocol mujoco/hopper@v1 --limit-episodes 2 --workers 1`` with
a ``sitecustomize`` on PYTHONPATH that installs a ``sys.setprofile`` hook in every Python process of the run
(the CLI and its env worker inherit the environment). The hook records each ``vla_bench`` module one of whose
functions is called (a function: module and class bodies, and the methods ``dataclasses`` generates, run at
import and do not count): in the CLI process from ``cli.app.eval_command`` on (start-up before it is not the
episode's path), in an env worker from its start. Each process appends a module the first time it sees it, so a
worker that is killed at the end still reports. Prints the modules of each process, the union, and the union
without reporting/progress/provenance (the part a reader follows to ``summary.json``), and how many source lines
the functions that ran span (per module and in all: the least code a regrouping of the path would have to hold).

Run: ``.venv/bin/python bench/episode_path.py [--keep DIR]``. Measured here: see docs/ARCHITECTURE.md ("Count").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HOOK = '''
import os, sys, threading

_OUT = os.environ["VLA_PATH_TRACE_DIR"]
_WORKER = any("env_worker" in part for part in sys.orig_argv)
_seen = set()
_active = [_WORKER]
_file = os.path.join(_OUT, ("worker-" if _WORKER else "cli-") + str(os.getpid()) + ".txt")


def _hook(frame, event, arg):
    code = frame.f_code
    # only functions (CO_OPTIMIZED): module and class bodies, and the methods dataclasses generate, run when a
    # module is imported, which is not the episode's path
    if event != "call" or not code.co_flags & 0x1 or code.co_name == "__create_fn__":
        return
    module = frame.f_globals.get("__name__") or ""
    if module == "__main__":  # the env worker runs as python -m vla_bench.harness.env_worker
        spec = frame.f_globals.get("__spec__")
        module = getattr(spec, "name", "") or ""
    if not module.startswith("vla_bench"):
        return
    if not _active[0]:
        if module == "vla_bench.cli.app" and frame.f_code.co_name == "eval_command":
            _active[0] = True
        else:
            return
    key = (module, code.co_firstlineno, code.co_name)
    if key not in _seen:
        _seen.add(key)
        last = max((line for _, _, line in code.co_lines() if line is not None), default=code.co_firstlineno)
        with open(_file, "a", encoding="utf-8") as out:
            out.write(f"{module} {code.co_firstlineno} {last}\\n")


sys.setprofile(_hook)
threading.setprofile(_hook)
'''

# modules that report on a run rather than carry the episode to summary.json
SIDE_JOBS = ("report", "plots", "run_report", "progress", "provenance", "failures")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="keep the trace files and the run here")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="vla-episode-path-"))
    hook_dir, trace_dir = root / "hook", root / "trace"
    hook_dir.mkdir(parents=True, exist_ok=True)
    trace_dir.mkdir(parents=True, exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    env = dict(os.environ, VLA_PATH_TRACE_DIR=str(trace_dir),
               PYTHONPATH=os.pathsep.join(p for p in (str(hook_dir), os.environ.get("PYTHONPATH", "")) if p))
    cli = Path(sys.executable).with_name("vla-bench")
    command = [str(cli), "eval", "--agent", "baseline:random", "--protocol", "mujoco/hopper@v1",
               "--limit-episodes", "2", "--workers", "1", "--out", str(root / "run")]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    per_process: dict[str, set[str]] = {}
    spans: dict[str, set[tuple[int, int]]] = {}  # each module's functions that ran: (first line, last line)
    for trace in sorted(trace_dir.glob("*.txt")):
        per_process[trace.stem] = set()
        for line in trace.read_text(encoding="utf-8").splitlines():
            module, first, last = line.split()
            per_process[trace.stem].add(module)
            spans.setdefault(module, set()).add((int(first), int(last)))
    union: set[str] = set().union(*per_process.values()) if per_process else set()
    for name, modules in per_process.items():
        print(f"{name}: {len(modules)} modules")
    core = {m for m in union if m.rsplit(".", 1)[-1] not in SIDE_JOBS}
    both = set.intersection(*per_process.values()) if len(per_process) > 1 else set()
    print(f"in more than one process: {len(both)}")
    print(f"union: {len(union)} modules; without reporting/progress/provenance: {len(core)}")
    ran = {module: _lines_covered(module_spans) for module, module_spans in spans.items()}
    print(f"lines of the functions that ran (nested functions counted once): {sum(ran.values())}; "
          f"12 modules of <= 400 lines hold at most {12 * 400}")
    for module in sorted(union):
        print(f"  {module}  ({ran.get(module, 0)} lines ran)")


def _lines_covered(spans: set[tuple[int, int]]) -> int:
    """Source lines inside any of the spans (a function defined in another that also ran is counted once)."""
    return len({line for first, last in spans for line in range(first, last + 1)})


if __name__ == "__main__":
    main()
