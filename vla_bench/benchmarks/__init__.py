"""Benchmark adapters. Entries are lazy ``module:attr`` strings: listing them imports no simulator.

Each adapter's protocols are TOML files in ``<adapter>/protocols/``; a file ``SUITE@vN.toml`` holds the
protocol ``ADAPTER/SUITE@vN``.
"""

ADAPTERS: dict[str, str] = {
    "mujoco": "vla_bench.benchmarks.mujoco.adapter:MujocoAdapter",
    "pandapickcube": "vla_bench.benchmarks.pandapickcube.adapter:PandaPickCubeAdapter",
}

DESCRIPTIONS: dict[str, str] = {
    "mujoco": "Gymnasium MuJoCo v5 locomotion: Hopper, HalfCheetah, Walker2d, Ant, Humanoid",
    "pandapickcube": "Franka Panda picks up a cube (serl's PandaPickCube, MuJoCo port from gym-hil)",
}
