"""The CALVIN runtime: calvin_env is not on PyPI, so the user brings it (``vla-bench setup calvin --python PATH``).

calvin_env's own requirements (its ``requirements.txt`` @797142c) all install from PyPI wheels on Python 3.11
(PLATFORM.md: pybullet 3.2.7, hydra-core, omegaconf, gym 0.26.2, numpy-quaternion, opencv-python-headless,
scipy, gitpython, ...); calvin_env itself is installed from a git checkout (``pip install --no-deps -e
./calvin_env``: its constructor reads the checkout's commit). tacto is only needed for the tactile camera,
which no protocol uses. msgpack and pydantic are the env worker's own needs.
"""

from __future__ import annotations

from vla_bench.spec.runtime import RuntimeSpec

DATASET_ENV_VAR = "VLA_BENCH_CALVIN_DATASET"

RUNTIME = RuntimeSpec(
    name="calvin",
    requirements=(
        "pybullet==3.2.7", "gym==0.26.2", "hydra-core>=1.1", "hydra-colorlog", "omegaconf>=2.1", "numpy<2",
        "numpy-quaternion",
        "opencv-python-headless<4.12",  # 4.12+ needs numpy>=2, which pybullet 3.2.7 and calvin_env do not take
        "scipy", "gitpython", "msgpack>=1.0", "pydantic>=2",
    ),
    python=">=3.8",
    imports=("calvin_env", "pybullet", "hydra"),
    env={},
    user_provided=(
        "calvin_env is not on PyPI. One command gives a consistent environment: `python3.11 -m venv calvin-venv && "
        "calvin-venv/bin/pip install $(vla-bench setup calvin --print-requirements) && git clone "
        "https://github.com/mees/calvin_env && calvin-venv/bin/pip install --no-deps -e ./calvin_env && "
        "vla-bench setup calvin --python calvin-venv/bin/python` (run your agents from another folder than the one "
        "holding calvin_env/, or from any folder: env workers do not put the working directory on sys.path). "
        "In words: clone https://github.com/mees/calvin_env (git checkout, not an archive: "
        "its constructor reads the commit; use main, which fixes the turn_off_led oracle bug) into an interpreter "
        "with the requirements above, `pip install --no-deps -e ./calvin_env`, then adopt it with "
        "`vla-bench setup calvin --python PATH/TO/python`. The evaluation also needs the CALVIN dataset's "
        "validation folder (task_D_D, task_ABC_D or task_ABCD_D, matching the protocol's split): set "
        f"{DATASET_ENV_VAR} to the dataset folder (the one holding validation/) or to the validation folder itself."
    ),
)
