"""The lerobot policy runtime for real (slow: builds or reuses a ~5 GB venv with lerobot 0.6.1 and torch).

A tiny randomly initialised ACT policy is saved in the runtime; ``--agent lerobot:DIR`` then gives the actions
LeRobot's own pipeline gives (pre-processor, ``select_action``, post-processor, computed by a separate script
in the runtime that builds the batch by hand), and evaluates on a state protocol and on MetaWorld pixels.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vla_bench
from vla_bench.agents import load_agent
from vla_bench.protocols import get_protocol
from vla_bench.spec import TaskSpec
from vla_bench.spec.errors import UserError

pytestmark = pytest.mark.slow

MAKE = textwrap.dedent("""
    import json, sys, torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors
    out, state_dim, action_dim, image = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    torch.manual_seed(0)
    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(state_dim,))}
    stats = {"observation.state": {"mean": torch.linspace(-1, 1, state_dim), "std": torch.full((state_dim,), 2.0)},
             "action": {"mean": torch.full((action_dim,), 0.1), "std": torch.full((action_dim,), 0.5)}}
    if image:
        inputs["observation.image"] = PolicyFeature(type=FeatureType.VISUAL, shape=tuple(image))
        stats["observation.image"] = {"mean": torch.full((3, 1, 1), 0.4), "std": torch.full((3, 1, 1), 0.2)}
    else:
        inputs["observation.environment_state"] = PolicyFeature(type=FeatureType.ENV, shape=(state_dim,))
    config = ACTConfig(input_features=inputs,
                       output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,))},
                       chunk_size=6, n_action_steps=4, dim_model=32, n_heads=2, dim_feedforward=64,
                       n_encoder_layers=1, n_decoder_layers=1, use_vae=False, device="cpu",
                       pretrained_backbone_weights=None)
    policy = ACTPolicy(config)
    pre, post = make_pre_post_processors(config, dataset_stats=stats)
    for thing in (policy, pre, post):
        thing.save_pretrained(out)
""")

# LeRobot's own pipeline, the batch built by hand as lerobot.envs.utils.preprocess_observation builds it
REFERENCE = textwrap.dedent("""
    import sys, numpy as np, torch
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.policies.factory import get_policy_class, make_pre_post_processors
    path, data, out = sys.argv[1:4]
    config = PreTrainedConfig.from_pretrained(path)
    policy = get_policy_class(config.type).from_pretrained(path, config=config)
    policy.eval()
    pre, post = make_pre_post_processors(config, pretrained_path=path)
    episodes = np.load(data)
    actions = []
    for e in range(episodes["state"].shape[0]):
        policy.reset()
        for t in range(episodes["state"].shape[1]):
            state = torch.from_numpy(episodes["state"][e, t])[None]
            batch = {"observation.state": state, "task": [""]}
            if "observation.environment_state" in config.input_features:
                batch["observation.environment_state"] = state
            if "image" in episodes:
                image = torch.from_numpy(episodes["image"][e, t]).permute(2, 0, 1).float() / 255
                batch["observation.image"] = image[None]
            with torch.inference_mode():
                actions.append(post(policy.select_action(pre(batch))).numpy()[0])
    np.save(out, np.stack(actions))
""")


@pytest.fixture(scope="module")
def runtime_python() -> str:
    from vla_bench.runtimes.build import setup
    from vla_bench.runtimes.doctor import statuses

    result = setup("lerobot", echo=lambda text: None)  # builds it once (minutes), then finds it built
    assert result.kind in ("built", "already-built", "adopted")
    (status,) = statuses("lerobot")
    assert status.ok, status.detail
    return result.python


def _run(python: str, script: str, *args: str) -> None:
    done = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]


def _checkpoint(python: str, folder: Path, state_dim: int, action_dim: int, image: list[int] | None) -> Path:
    _run(python, MAKE, str(folder), str(state_dim), str(action_dim), json.dumps(image))
    return folder


def _compare(python: str, checkpoint: Path, episodes: dict[str, np.ndarray], task: TaskSpec, tmp: Path) -> None:
    policy = load_agent(f"lerobot:{checkpoint}").factory()
    ours = []
    for e in range(episodes["state"].shape[0]):
        policy.reset(task)  # every episode start empties LeRobot's action queue
        for t in range(episodes["state"].shape[1]):
            observation: dict[str, Any] = {"state": episodes["state"][e, t]}
            if "image" in episodes:
                observation["images"] = {"corner4": episodes["image"][e, t]}
            ours.append(policy.act(observation))  # type: ignore[arg-type]
    np.savez(tmp / "observations.npz", **episodes)
    _run(python, REFERENCE, str(checkpoint), str(tmp / "observations.npz"), str(tmp / "reference.npy"))
    np.testing.assert_array_equal(np.stack(ours), np.load(tmp / "reference.npy"))


def test_state_policy_actions_equal_lerobots_own_select_action(runtime_python: str, tmp_path: Path) -> None:
    checkpoint = _checkpoint(runtime_python, tmp_path / "act-state", 11, 3, None)
    rng = np.random.default_rng(0)
    episodes = {"state": rng.normal(size=(2, 9, 11)).astype(np.float32)}  # 9 steps: chunks of 4 cross twice
    task = TaskSpec(name="hopper", instruction="", action_low=(-1.0,) * 3, action_high=(1.0,) * 3, max_steps=9,
                    observation_mode="state")
    _compare(runtime_python, checkpoint, episodes, task, tmp_path)
    first = vla_bench.evaluate(f"lerobot:{checkpoint}", "mujoco/hopper@v1", limit_episodes=2, workers=1,
                               envs_per_worker=2)
    again = vla_bench.evaluate(f"lerobot:{checkpoint}", "mujoco/hopper@v1", limit_episodes=2, workers=1,
                               envs_per_worker=2)
    records = {r.key: r.outcome() for r in first.records}
    assert len(records) == 2 and all(r["error"] is None for r in records.values())
    assert records == {r.key: r.outcome() for r in again.records}
    assert first.summary["agent"]["kind"] == "lerobot"
    assert first.summary["agent"]["details"]["n_action_steps"] == 4


def test_pixel_policy_on_metaworld_equals_lerobot_and_evaluates(runtime_python: str, tmp_path: Path) -> None:
    checkpoint = _checkpoint(runtime_python, tmp_path / "act-pixels", 4, 4, [3, 224, 224])
    rng = np.random.default_rng(1)
    episodes: dict[str, np.ndarray] = {"state": rng.normal(size=(1, 5, 4)).astype(np.float32),
                "image": rng.integers(0, 256, size=(1, 5, 224, 224, 3), dtype=np.uint8)}
    task = TaskSpec(name="reach", instruction="reach the goal", action_low=(-1.0,) * 4, action_high=(1.0,) * 4,
                    max_steps=5, observation_mode="pixels+state", cameras=("corner4",))
    _compare(runtime_python, checkpoint, episodes, task, tmp_path)
    full = get_protocol("metaworld/mt10-pixels@v1")
    protocol = full.model_copy(update={"tasks": full.tasks[:2], "max_steps": 30})  # a short slice, unofficial
    result = vla_bench.evaluate(f"lerobot:{checkpoint}", protocol, limit_episodes=1, workers=1, envs_per_worker=2)
    records = [r.outcome() for r in result.records]
    assert len(records) == 2 and all(r["error"] is None and r["length"] == 30 for r in records)


def test_a_hub_id_offline_names_the_fix(runtime_python: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(UserError, match=r"huggingface-cli download lerobot/act_aloha_sim .*--agent lerobot:DIR"):
        load_agent("lerobot:lerobot/act_aloha_sim")
