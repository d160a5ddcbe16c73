"""Benchmark adapters. Entries are lazy ``module:attr`` strings: listing them imports no simulator.

Each adapter's protocols are TOML files in ``<adapter>/protocols/``; a file ``SUITE@vN.toml`` holds the
protocol ``ADAPTER/SUITE@vN``.
"""

ADAPTERS: dict[str, str] = {
    "d4rl": "vla_bench.benchmarks.d4rl.adapter:D4RLAdapter",
    "metaworld": "vla_bench.benchmarks.metaworld.adapter:MetaWorldAdapter",
    "mujoco": "vla_bench.benchmarks.mujoco.adapter:MujocoAdapter",
    "pandapickcube": "vla_bench.benchmarks.pandapickcube.adapter:PandaPickCubeAdapter",
}

DESCRIPTIONS: dict[str, str] = {
    "d4rl": "D4RL's offline-RL protocols (one per dataset) on Gymnasium v5 and Gymnasium-Robotics: locomotion, "
            "AntMaze, Kitchen, Adroit, Maze2d; D4RL-normalized scores",
    "metaworld": "Meta-World v3 (metaworld 3.x): 50 Sawyer manipulation tasks, MT1/MT10/MT50 over metaworld's "
                 "seeded goals, held-out ML10/ML45 test tasks, LeRobot-style pixel track; success rate",
    "mujoco": "Gymnasium MuJoCo v5 locomotion: Hopper, HalfCheetah, Walker2d, Ant, Humanoid",
    "pandapickcube": "Franka Panda picks up a cube (serl's PandaPickCube, MuJoCo port from gym-hil)",
}
