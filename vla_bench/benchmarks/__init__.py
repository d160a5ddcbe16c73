"""Benchmark adapters and runtimes, in two lazy registries: listing them imports no simulator.

:data:`BENCHMARKS` loads an adapter class by name (``BENCHMARKS.get("mujoco")``), :data:`RUNTIME_SPECS` a
``RuntimeSpec``. Their entries are the dicts :data:`ADAPTERS` and :data:`RUNTIMES` (name -> ``"module:object"``),
shared, not copied: code that reads the strings or patches an entry there (tests) sees the registry's own.
Each adapter's protocols are TOML files in ``<adapter>/protocols/``; a file ``SUITE@vN.toml`` holds the
protocol ``ADAPTER/SUITE@vN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vla_bench.spec.registry import Registry
from vla_bench.spec.runtime import RuntimeSpec

if TYPE_CHECKING:
    from vla_bench.benchmarks.base import BenchmarkAdapter

ADAPTERS: dict[str, str] = {
    "calvin": "vla_bench.benchmarks.calvin.adapter:CalvinAdapter",
    "d4rl": "vla_bench.benchmarks.d4rl.adapter:D4RLAdapter",
    "kitchen": "vla_bench.benchmarks.kitchen.adapter:KitchenAdapter",
    "libero": "vla_bench.benchmarks.libero.adapter:LiberoAdapter",
    "metaworld": "vla_bench.benchmarks.metaworld.adapter:MetaWorldAdapter",
    "mujoco": "vla_bench.benchmarks.mujoco.adapter:MujocoAdapter",
    "pandapickcube": "vla_bench.benchmarks.pandapickcube.adapter:PandaPickCubeAdapter",
    "robomimic": "vla_bench.benchmarks.robomimic.adapter:RobomimicAdapter",
}

# Benchmarks whose stack cannot join the main environment declare a runtime (a ``RuntimeSpec``): its env
# workers then run in an interpreter built by ``vla-bench setup NAME`` or adopted with ``--python``.
# Benchmarks missing here run in the main interpreter. ``module:attr`` strings: nothing heavy is imported.
RUNTIMES: dict[str, str] = {
    "calvin": "vla_bench.benchmarks.calvin.runtime:RUNTIME",
    "libero": "vla_bench.benchmarks.libero.runtime:RUNTIME",
    "lerobot": "vla_bench.agents.lerobot_runtime:RUNTIME",  # a policy runtime (--agent lerobot:PATH), not a benchmark
}

DESCRIPTIONS: dict[str, str] = {
    "calvin": "CALVIN long-horizon multi-task language control (LH-MTLC): 1000 chains of 5 instructions in env D, "
              "average length; needs a user-provided calvin_env runtime and the dataset's validation folder",
    "d4rl": "D4RL's offline-RL protocols (one per dataset) on Gymnasium v5 and Gymnasium-Robotics: locomotion, "
            "AntMaze, Kitchen, Adroit, Maze2d; D4RL-normalized scores",
    "kitchen": "Franka Kitchen (Gymnasium-Robotics FrankaKitchen-v1) instruction chains of 5 subtasks, scored like "
               "CALVIN: success for 1..5 subtasks in a row and average length",
    "libero": "LIBERO (libero 0.1.1, robosuite 1.4.0; own runtime): suites spatial, object, goal, 10, 90 under "
              "the OpenVLA/openpi protocol (50 fixed initial states per task, 256x256 agentview + wrist images)",
    "metaworld": "Meta-World v3 (metaworld 3.x): 50 Sawyer manipulation tasks, MT1/MT10/MT50 over metaworld's "
                 "seeded goals, held-out ML10/ML45 test tasks, LeRobot-style pixel track; success rate",
    "mujoco": "Gymnasium MuJoCo v5 locomotion: Hopper, HalfCheetah, Walker2d, Ant, Humanoid",
    "pandapickcube": "Franka Panda picks up a cube (serl's PandaPickCube, MuJoCo port from gym-hil)",
    "robomimic": "robomimic's simulated tasks (Lift, Can, Square, Transport, Tool Hang) on robosuite 1.5.2, "
                 "its rollout protocol per dataset (ph/mh horizons, 50 rollouts, any-step success), low-dim "
                 "and image observations",
}

BENCHMARKS: Registry[type[BenchmarkAdapter]] = Registry("benchmark", ADAPTERS, instance_of=type,
                                                        descriptions=DESCRIPTIONS)
RUNTIME_SPECS: Registry[RuntimeSpec] = Registry("runtime", RUNTIMES, instance_of=RuntimeSpec)
