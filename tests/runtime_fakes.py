"""Runtimes for tests, a second interpreter to adopt, and a `vla-bench` launcher that registers them.

The second interpreter is a real venv (its own sys.executable and prefix) made without pip in well under a
second; a ``.pth`` file lends it the test environment's site-packages, so it satisfies the runtimes below
without downloading anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from vla_bench.spec.runtime import RuntimeSpec

TESTS = Path(__file__).resolve().parent

# Satisfied by the test environment (and so by the second interpreter).
HOPPER_RUNTIME = RuntimeSpec(name="hopper-test", requirements=("mujoco==3.3.0", "gymnasium[mujoco]>=1.0"),
                             python=">=3.10", imports=("mujoco",), env={"VLA_BENCH_TEST_RUNTIME": "{runtime_dir}"})
# Satisfied by no interpreter here.
UNSATISFIABLE = RuntimeSpec(name="never-test", requirements=("mujoco==0.0.1",), python=">=3.10",
                            user_provided="nothing, really")


def second_interpreter(directory: Path) -> Path:
    """A venv at ``directory`` whose packages are the test environment's: a second interpreter path."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=120)
    python = directory / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    Path(purelib, "vla_bench_test_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return python


LAUNCHER = """
import atexit, json, sys
from vla_bench import benchmarks
runtimes, modules_file = json.loads(sys.argv[1]), sys.argv[2]
benchmarks.RUNTIMES.update(runtimes)
def _report():
    with open(modules_file, "w") as out:
        json.dump(sorted(m for m in sys.modules if m.split(".")[0] in {"mujoco", "gymnasium"}), out)
atexit.register(_report)
sys.argv = ["vla-bench", *sys.argv[3:]]
from vla_bench.cli import main
main()
"""


def vla_bench_with_runtimes(runtimes: dict[str, str], modules_file: Path, *args: str,
                            env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``vla-bench ARGS`` with ``benchmarks.RUNTIMES`` extended; ``modules_file`` receives the simulator
    modules the command's own process imported."""
    full_env = dict(os.environ, PYTHONPATH=str(TESTS), COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-c", LAUNCHER, json.dumps(runtimes), str(modules_file),
                           *args], capture_output=True, text=True, timeout=280, env=full_env)
