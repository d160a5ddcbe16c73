"""The five LIBERO suites and the constants of the standard VLA evaluation protocol (shared REFERENCE.md 4.1-4.2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Suite:
    name: str  # libero's task_suite_name (folder of its bddl and init files)
    n_tasks: int
    max_steps: int  # policy steps after the settle steps
    longest_demo: int


# max_steps: openvla experiments/robot/libero/run_libero_eval.py:173-182, OpenVLA-OFT TASK_MAX_STEPS and openpi
# examples/libero/main.py:61-69 (all identical); task counts: libero benchmark/libero_suite_task_map.py.
SUITES: dict[str, Suite] = {
    "spatial": Suite("libero_spatial", 10, 220, 193),
    "object": Suite("libero_object", 10, 280, 254),
    "goal": Suite("libero_goal", 10, 300, 270),
    "10": Suite("libero_10", 10, 520, 505),
    "90": Suite("libero_90", 90, 400, 373),
}
N_INIT_STATES = 50  # fixed initial states per task; episode i starts from state i (REFERENCE.md 4.1, 4.2)
SETTLE_STEPS = 10  # openpi/OpenVLA num_steps_wait: dummy actions "for objects to stabilize", not in max_steps
# get_libero_dummy_action (openvla) / LIBERO_DUMMY_ACTION (openpi): zero OSC delta, gripper -1 (open).
SETTLE_ACTION = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)
IMAGE_SIZE = 256  # env_img_res / LIBERO_ENV_RESOLUTION: the resolution the training data was rendered at
CAMERAS = ("agentview", "robot0_eye_in_hand")  # robosuite camera names; libero observation keys add "_image"
ACTION_DIM = 7  # OSC_POSE delta (xyz, axis-angle) + gripper, each in [-1, 1] (robosuite 1.4 controller limits)
CONTROL_HZ = 20.0  # libero ControlEnv control_freq default
# openpi's state: eef position (3), eef orientation as axis-angle (3), gripper joint positions (2); OpenVLA-OFT
# uses the same 8 values (examples/libero/main.py: observation/state).
STATE_DIM = 8
