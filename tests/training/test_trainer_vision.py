"""PPO on camera observations (pandapickcube/vision@v1 with small images and short episodes): the exported
graph takes the images and state as the harness feeds them and acts as SB3's policy does; the training loop
checkpoints, resumes and exports a model the harness evaluates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vla_bench.spec import Observation, Protocol
from vla_bench.training.offline import TrainOptions

SIDE = 40  # NatureCNN's minimum is 36; small images keep software rendering fast


def small_vision_protocol() -> Protocol:
    from vla_bench.harness.api import get_protocol

    data = get_protocol("pandapickcube/vision@v1").model_dump(mode="json")
    data.update(id="test/pandapickcube-vision-small@v1", max_steps=12, episodes_per_task=2)
    data["observation"].update(image_height=SIDE, image_width=SIDE)
    return Protocol.model_validate(data)


def options(steps: int, *, evaluate: bool) -> TrainOptions:
    return TrainOptions(steps=steps, eval_episodes=1, log_every=16, checkpoint_every=0, progress=False,
                        evaluate_at_end=evaluate,
                        options={"n_steps": "16", "batch_size": "8", "n_epochs": "1", "hidden": "16",
                                 "cnn_features": "8"})


def test_vision_ppo_export_matches_sb3_predict(tmp_path: Path) -> None:
    import onnxruntime as ort
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from vla_bench.training import vision
    from vla_bench.training.export import TorchPolicy, export_onnx_inputs
    from vla_bench.training.online import _exported_module, make_env

    protocol = small_vision_protocol()
    venv = VecNormalize(DummyVecEnv([lambda: make_env(protocol, images=True)]), norm_reward=False,
                        norm_obs_keys=["state"])
    model = PPO("MultiInputPolicy", venv, n_steps=16, batch_size=8, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": {"pi": [16, 16], "vf": [16, 16]}})
    model.learn(32)  # moves the weights and the state's statistics away from their initial values
    space = venv.observation_space
    assert vision.is_dict_space(space)
    assert vision.input_names(space) == ["image_front", "image_wrist", "state"]
    path = export_onnx_inputs(_exported_module("ppo", model, venv), vision.example_inputs(space), tmp_path / "m.onnx")

    rng = np.random.default_rng(0)
    batch = 5
    images = {name: rng.integers(0, 256, (batch, SIDE, SIDE, 3), dtype=np.uint8)
              for name in ("image_front", "image_wrist")}
    state = (venv.obs_rms["state"].mean + rng.normal(size=(batch, 7))).astype(np.float32)
    state[0] *= 1e4  # far outside: VecNormalize's clip must be in the graph
    # SB3's own path: VecNormalize on the state, VecTransposeImage on the images, then predict
    normalized = venv.normalize_obs({**images, "state": state})
    assert isinstance(normalized, dict)
    transposed = {k: (v.transpose(0, 3, 1, 2) if k.startswith("image_") else v) for k, v in normalized.items()}
    expected, _ = model.predict(transposed, deterministic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["action"], {**images, "state": state})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    observations: list[Observation] = [
        {"images": {"front": images["image_front"][i], "wrist": images["image_wrist"][i]}, "state": state[i]}
        for i in range(batch)]
    torch_policy = TorchPolicy(_exported_module("ppo", model, venv), vision.input_names(space))
    np.testing.assert_allclose(torch_policy.act_batch(observations), got, rtol=1e-5, atol=1e-6)
    venv.close()


def test_vision_ppo_trains_resumes_and_the_harness_evaluates_its_export(tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.harness.api import evaluate
    from vla_bench.training.online import train_online

    protocol = small_vision_protocol()
    out = tmp_path / "ppo"
    first = train_online("ppo", protocol, out, options=options(32, evaluate=False))
    assert first.steps == 32
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert set(state["vecnormalize"]["obs_keys"]) == {"state"}  # images are not normalized
    resumed = train_online("ppo", protocol, out, options=options(64, evaluate=True))
    assert resumed.steps == 64
    assert resumed.last_eval is not None and resumed.last_eval["errors"] == 0  # the torch policy, in the harness
    steps = [row.split(",")[0] for row in (out / "train.csv").read_text().splitlines()[1:]]
    assert steps == ["16", "32", "48", "64"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["input"] == ["image_front", "image_wrist", "state"]
    assert manifest["obs_dim"] == 7 and manifest["steps"] == 64 and manifest["config"]["cnn_features"] == 8

    agent = load_agent(str(out / "model.onnx"))
    result = evaluate(agent, protocol, limit_episodes=1, progress=False)
    (record,) = result.records
    assert record.error is None and record.length == protocol.max_steps
