"""Online trainers: PPO / SAC through Stable-Baselines3 (export round trip, the training loop with
evaluation and resume) and DAgger with a queryable expert on the fake environment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vlab_fakes import LinearPolicy, fake_protocol

from vla_bench.agents.trainers.offline import TrainOptions

HOPPER = "mujoco/hopper@v1"


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_sb3_export_matches_sb3_predict(algo: str, tmp_path: Path) -> None:
    import onnxruntime as ort
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from vla_bench.agents.trainers.export import export_onnx
    from vla_bench.agents.trainers.online import _exported_module, make_env, resolve_protocol

    protocol = resolve_protocol(HOPPER)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(protocol)]), norm_reward=False)
    if algo == "ppo":
        model = PPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    else:
        model = SAC("MlpPolicy", venv, learning_starts=16, batch_size=16, seed=0, device="cpu",
                    policy_kwargs={"net_arch": [32, 32]})
    model.learn(128)  # moves the weights and VecNormalize's statistics away from their initial values
    path = export_onnx(_exported_module(algo, model, venv), 11, tmp_path / "model.onnx")
    rng = np.random.default_rng(0)
    raw = (venv.obs_rms.mean + rng.normal(size=(64, 11)) * np.sqrt(venv.obs_rms.var)).astype(np.float32)
    raw[:4] *= 50  # far outside: VecNormalize's clip must be in the graph
    expected, _ = model.predict(venv.normalize_obs(raw), deterministic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["action"], {"state": raw})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_ppo_training_loop_evaluates_checkpoints_and_resumes(tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.agents.trainers.online import train_online

    def options(steps: int) -> TrainOptions:
        return TrainOptions(steps=steps, eval_every=256, eval_episodes=1, log_every=128, checkpoint_every=256,
                            progress=False, options={"n_steps": "128", "batch_size": "64", "n_epochs": "2"})

    first = train_online("ppo", HOPPER, tmp_path / "ppo", options=options(256))
    assert first.last_eval is not None and first.last_eval["errors"] == 0
    resumed = train_online("ppo", HOPPER, tmp_path / "ppo", options=options(512))
    assert resumed.steps == 512
    steps = [row.split(",")[0] for row in (tmp_path / "ppo" / "train.csv").read_text().splitlines()[1:]]
    assert steps == ["128", "256", "384", "512"]
    manifest = json.loads((tmp_path / "ppo" / "manifest.json").read_text())
    assert manifest["algo"] == "ppo" and manifest["obs_dim"] == 11 and manifest["steps"] == 512
    policy = load_agent(str(tmp_path / "ppo" / "model.onnx")).factory()
    assert policy.act({"state": np.zeros(11, dtype=np.float32)}).shape == (3,)


def test_dagger_learner_converges_to_the_expert_on_its_own_states(tmp_path: Path) -> None:
    from vla_bench.agents.trainers.dagger import train_dagger

    result = train_dagger(LinearPolicy, fake_protocol(episodes=2), tmp_path / "dagger",
                          options=TrainOptions(steps=400, eval_episodes=2, progress=False,
                                               options={"iterations": 4, "episodes": 4, "hidden": 64,
                                                        "batch_size": 64, "lr": 1e-3}))
    mse = [row["learner_expert_mse"] for row in result.history]
    print("DAgger: learner-expert MSE on the learner's visited states per round:", mse)
    assert np.isnan(mse[0])  # round 0: expert only
    assert mse[-1] < 0.25 * mse[1]
    betas = [row["beta"] for row in result.history]
    assert betas == [1.0, 0.5, 0.25, 0.125]
    assert result.last_eval is not None and result.last_eval["errors"] == 0
    assert (tmp_path / "dagger" / "model.onnx").is_file()
