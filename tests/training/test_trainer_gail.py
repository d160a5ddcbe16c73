"""GAIL from expert demonstrations on the fake point task (no environment reward reaches the learner): the
imitator's true return goes up through the harness, the export acts as SB3's policy, resume is exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from numpy.typing import NDArray
from vlab_fakes import fake_protocol

from vla_bench.spec import Observation, Protocol, TaskSpec
from vla_bench.training.offline import TrainOptions

# more discriminator steps per round than imitation's 2: a tiny budget needs a discriminator that keeps up
SMALL = {"n_steps": "256", "batch_size": "64", "n_epochs": "4", "hidden": "32", "learning_rate": "1e-3",
         "disc_updates": "16", "normalize_reward": "false"}


class Expert:
    """Steers the fake point to the origin (return about -32 where zero actions get -46)."""

    def reset(self, task: TaskSpec) -> None:
        pass

    def act(self, observation: Observation) -> NDArray[np.float32]:
        return np.tanh(-3.0 * np.asarray(observation["state"], dtype=np.float64)[:2]).astype(np.float32)


def single_task() -> Protocol:
    return fake_protocol(tasks=[{"name": "a", "env_id": "fake"}], episodes=12)


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vla_bench.harness.collect import collect

    path = tmp_path_factory.mktemp("gail") / "expert.hdf5"
    collect(Expert, single_task(), path, episodes=12)
    return path


def options(steps: int, *, stop_at: int | None = None, evaluate: bool = True,
            normalize_reward: bool = False, normalize_obs: bool | None = None) -> TrainOptions:
    extra = {} if normalize_obs is None else {"normalize_obs": str(normalize_obs).lower()}
    return TrainOptions(steps=steps, seed=0, eval_episodes=12, checkpoint_every=512, progress=False,
                        stop_at=stop_at, evaluate_at_end=evaluate,
                        options={**SMALL, "normalize_reward": str(normalize_reward).lower(), **extra})


class Still(Expert):
    """What an untrained SB3 PPO policy does: its action head starts at ~0 (orthogonal init, gain 0.01)."""

    def act(self, observation: Observation) -> NDArray[np.float32]:
        return np.zeros(2, dtype=np.float32)


def test_gail_imitates_the_expert_without_its_reward(demos: Path, tmp_path: Path) -> None:
    from vla_bench.agents.loaders import load_agent
    from vla_bench.agents.policy import is_batched
    from vla_bench.datasets import read_d4rl
    from vla_bench.harness.api import evaluate
    from vla_bench.training.gail_train import train_gail

    result = train_gail(demos, single_task(), tmp_path / "gail", options=options(3072))
    before = evaluate(Still, single_task(), progress=False).scores["aggregate"]["mean"]["mean"]
    expert = evaluate(Expert, single_task(), progress=False).scores["aggregate"]["mean"]["mean"]
    assert result.last_eval is not None
    after = result.last_eval["mean_return"]
    data = read_d4rl(demos)
    imitator = load_agent(str(tmp_path / "gail" / "model.onnx")).factory()
    assert is_batched(imitator)
    imitated = np.asarray(imitator.act_batch([{"state": s} for s in data.observations]))
    mse, still_mse = float(((imitated - data.actions) ** 2).mean()), float((data.actions**2).mean())
    print(f"GAIL fake task: return {before:.2f} (untrained) -> {after:.2f} (expert {expert:.2f}); action MSE to "
          f"the expert {still_mse:.3f} -> {mse:.3f}")
    assert after > before + 0.5 * (expert - before)
    assert mse < 0.5 * still_mse
    manifest = json.loads((tmp_path / "gail" / "manifest.json").read_text())
    assert manifest["algo"] == "gail" and manifest["steps"] == 3072 and manifest["dataset"]["n_steps"] > 0


# (None: the config's default for observations); rewards without observations is VecNormalize with no obs_rms
@pytest.mark.parametrize(("normalize_reward", "normalize_obs"), [(False, None), (True, None), (True, False)])
def test_gail_export_matches_sb3_and_resume_is_exact(demos: Path, tmp_path: Path, normalize_reward: bool,
                                                      normalize_obs: bool | None) -> None:
    import onnxruntime as ort
    from safetensors.torch import load_file

    from vla_bench.training.gail_train import train_gail

    def train(name: str, stop_at: int | None = None) -> None:
        train_gail(demos, single_task(), tmp_path / name,
                   options=options(1024, stop_at=stop_at, evaluate=False, normalize_reward=normalize_reward,
                                   normalize_obs=normalize_obs))

    train("whole")
    train("pieces", stop_at=512)
    train("pieces")
    for name in ("weights.safetensors", "gail.safetensors"):
        whole = load_file(str(tmp_path / "whole" / "checkpoint" / name))
        resumed = load_file(str(tmp_path / "pieces" / "checkpoint" / name))
        assert set(whole) == set(resumed)
        for key in whole:
            assert np.array_equal(whole[key].numpy(), resumed[key].numpy()), (name, key)
    whole_state = json.loads((tmp_path / "whole" / "checkpoint" / "state.json").read_text())
    resumed_state = json.loads((tmp_path / "pieces" / "checkpoint" / "state.json").read_text())
    assert whole_state["vecnormalize"] == resumed_state["vecnormalize"]
    if normalize_reward:  # the return statistics saw every step's reward
        assert whole_state["vecnormalize"]["ret_count"] > 1024
    states = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    outputs = []
    for run in ("whole", "pieces"):
        session = ort.InferenceSession(str(tmp_path / run / "model.onnx"), providers=["CPUExecutionProvider"])
        outputs.append(session.run(["action"], {"state": states})[0])
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_gail_refuses_demonstrations_of_another_shape(tmp_path: Path) -> None:
    from vla_bench.datasets import write_d4rl
    from vla_bench.datasets.d4rl_format import OfflineDataset
    from vla_bench.spec.errors import UserError
    from vla_bench.training.gail_train import train_gail

    n = 10
    wrong = OfflineDataset.from_arrays({"observations": np.zeros((n, 5), np.float32),
                                        "actions": np.zeros((n, 2), np.float32), "rewards": np.zeros(n, np.float32),
                                        "terminals": np.eye(1, n, n - 1, dtype=bool)[0]})
    write_d4rl(tmp_path / "wrong.hdf5", wrong)
    with pytest.raises(UserError, match="states of 5"):
        train_gail(tmp_path / "wrong.hdf5", single_task(), tmp_path / "run", options=options(256))


class Scripted(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """A one-number environment whose rewards and episode ends follow a script (for VecNormalize's reward path)."""

    def __init__(self, rewards: NDArray[np.float32], ends: NDArray[np.bool_]) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.rewards, self.ends, self.t = rewards, ends, 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[NDArray[np.float32], dict[str, Any]]:
        return np.zeros(1, np.float32), {}

    def step(self, action: NDArray[np.float32]) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        reward, end = float(self.rewards[self.t]), bool(self.ends[self.t])
        self.t += 1
        return np.zeros(1, np.float32), reward, end, False, {}


def test_deferred_reward_normalization_equals_vecnormalize_step_by_step() -> None:
    """The batched path's rewards, return statistics and discounted returns are VecNormalize's, bit for bit, over
    two rollouts (the second continuing the first's returns) with episode ends scattered in both."""
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from vla_bench.training.gail import deferred_normalize

    rng = np.random.default_rng(0)
    steps, envs = 96, 3
    rewards = (rng.normal(size=(steps, envs)) * 5 + 2).astype(np.float32)
    ends = rng.random((steps, envs)) < 0.08

    def venv(script: NDArray[np.float32]) -> DummyVecEnv:
        return DummyVecEnv([lambda i=i: Scripted(script[:, i], ends[:, i]) for i in range(envs)])  # type: ignore[misc]

    reference = VecNormalize(venv(rewards), norm_obs=False, norm_reward=True, gamma=0.9)
    reference.reset()
    expected = np.stack([reference.step(np.zeros((envs, 1), np.float32))[1] for _ in range(steps)])

    deferred = deferred_normalize(venv(np.zeros_like(rewards)), norm_obs=False, gamma=0.9)
    deferred.reset()
    got = []
    for half in (slice(0, steps // 2), slice(steps // 2, steps)):  # two rollouts, no reset between them
        for _ in range(half.stop - half.start):
            placeholder = deferred.step(np.zeros((envs, 1), np.float32))[1]
            assert not placeholder.any()  # nothing is paid while stepping
        got.append(deferred.normalize_rollout(rewards[half], ends[half]))
    assert ends[: steps // 2].any() and ends[steps // 2:].any()
    np.testing.assert_array_equal(np.concatenate(got), expected)
    assert expected.dtype == np.float32 and not np.array_equal(expected, rewards)  # it did normalize
    assert (deferred.ret_rms.mean, deferred.ret_rms.var, deferred.ret_rms.count) == (
        reference.ret_rms.mean, reference.ret_rms.var, reference.ret_rms.count)
    np.testing.assert_array_equal(deferred.returns, reference.returns)


def test_gail_rollout_with_deferred_normalized_rewards_equals_the_per_step_one() -> None:
    """A PPO rollout on Pendulum-v1 (truncated episodes: SB3's terminal bootstrap lands in the same buffer) paid per
    step through VecNormalize and paid once at the buffer through the deferred path stores the same rewards and
    advantages and leaves the same return statistics (the discriminator's batched forward pass may differ from
    the per-step one in the last bits, hence a tolerance)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from vla_bench.training.gail import Discriminator, deferred_normalize, deferred_reward_buffer, reward_wrapper

    torch.manual_seed(0)
    disc = Discriminator(3, 1, 32)
    rng = np.random.default_rng(0)
    disc.fit(rng.normal(size=(256, 3)).astype(np.float32), rng.uniform(-2, 2, (256, 1)).astype(np.float32))
    runs = []
    for deferred in (False, True):
        wrapped = reward_wrapper(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), disc, deferred=deferred)
        if deferred:
            venv = deferred_normalize(wrapped, norm_obs=True, gamma=0.99)
            extra: dict[str, Any] = {"rollout_buffer_class": deferred_reward_buffer(wrapped, venv)}
        else:
            venv = VecNormalize(wrapped, norm_obs=True, norm_reward=True, gamma=0.99)
            extra = {}
        model = PPO("MlpPolicy", venv, n_steps=512, batch_size=64, n_epochs=1, seed=0, device="cpu", **extra)
        model.learn(total_timesteps=512)
        runs.append((model.rollout_buffer, venv.ret_rms))
    (per_step, per_step_rms), (batched, batched_rms) = runs
    assert per_step.episode_starts[1:].any()  # a truncation inside the rollout
    np.testing.assert_allclose(batched.rewards, per_step.rewards, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.advantages, per_step.advantages, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose([batched_rms.mean, batched_rms.var, batched_rms.count],
                               [per_step_rms.mean, per_step_rms.var, per_step_rms.count], rtol=1e-6)
    assert per_step_rms.count > 512  # the rollout's returns went into the statistics
