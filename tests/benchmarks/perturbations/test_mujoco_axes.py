"""The perturbation layer on Gymnasium MuJoCo: each axis changes what it claims and nothing else, draws are a
function of the episode seed only, and the clean arm is the clean protocol bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from perturbation_testing import changed, live_scene, model_arrays

import vla_bench
from vla_bench.benchmarks.base import EnvSession
from vla_bench.harness.registry import resolve_adapter
from vla_bench.protocols import get_protocol, load_protocol
from vla_bench.protocols.plan import episode_spec
from vla_bench.spec import Protocol

ROBUST = get_protocol("mujoco/locomotion-robust@v1")
CLEAN = get_protocol("mujoco/locomotion@v1")
STEPS = 25


def _session(protocol: Protocol, task: str) -> EnvSession:
    return resolve_adapter("mujoco").make_session(protocol, protocol.task(task))


def _actions(n: int = STEPS, dim: int = 3) -> np.ndarray:
    return np.random.default_rng(7).uniform(-1.0, 1.0, (n, dim)).astype(np.float32)


def _rollout(protocol: Protocol, task: str, index: int) -> tuple[np.ndarray, list[float]]:
    session = _session(protocol, task)
    try:
        states = [session.reset(episode_spec(protocol, task, index))["state"]]
        rewards = []
        for action in _actions():
            result = session.step(action)
            states.append(result.observation["state"])
            rewards.append(result.reward)
        return np.stack(states), rewards
    finally:
        session.close()


def test_the_clean_arm_is_the_clean_protocol_bit_for_bit() -> None:
    for index in (0, 4):
        assert np.array_equal(_rollout(CLEAN, "hopper", index)[0], _rollout(ROBUST, "hopper", index)[0])
        assert _rollout(CLEAN, "hopper", index)[1] == _rollout(ROBUST, "hopper", index)[1]
    assert type(_session(ROBUST, "hopper")) is type(_session(CLEAN, "hopper"))  # no wrapper at all


@pytest.mark.parametrize(("axis", "arrays"), [
    ("friction", {"geom_friction"}),
    ("mass", {"body_mass", "body_inertia"}),
    ("damping", {"dof_damping"}),
    ("dynamics", {"geom_friction", "body_mass", "body_inertia", "dof_damping"}),
])
def test_dynamics_axes_change_exactly_their_model_arrays_within_their_ranges(axis: str, arrays: set[str]) -> None:
    clean = _session(CLEAN, "hopper")
    nominal = model_arrays(live_scene(clean)[0])
    assert ROBUST.perturbation is not None
    levels = ROBUST.perturbation.axis(axis).levels
    level = levels[-1]
    session = _session(ROBUST, f"hopper.{axis}.{len(levels)}")
    model = live_scene(session)[0]
    assert changed(nominal, model_arrays(model)) == set()  # nothing before the first reset
    session.reset(episode_spec(ROBUST, "hopper", 0))
    after = model_arrays(model)
    assert changed(nominal, after) == arrays
    for name, bounds in (("geom_friction", level.friction), ("body_mass", level.mass), ("dof_damping", level.damping)):
        if name in arrays:
            old, new = nominal[name], after[name]
            if name == "geom_friction":
                old, new = old[:, 0], new[:, 0]
            elif name == "body_mass":
                old, new = old[1:], new[1:]
            assert bounds is not None
            mask = old != 0
            ratio = new[mask] / old[mask]
            assert np.all(ratio >= bounds[0] - 1e-12) and np.all(ratio <= bounds[1] + 1e-12)
            assert len(np.unique(np.round(ratio, 12))) > 1  # one factor per element
    clean.close()
    session.close()


def test_the_same_seed_gives_the_same_perturbation_whatever_ran_before() -> None:
    fresh, used = _session(ROBUST, "hopper.dynamics.1"), _session(ROBUST, "hopper.dynamics.1")
    for index in (5, 2, 7):
        used.reset(episode_spec(ROBUST, "hopper", index))
    fresh.reset(episode_spec(ROBUST, "hopper", 3))
    used.reset(episode_spec(ROBUST, "hopper", 3))
    assert changed(model_arrays(live_scene(fresh)[0]), model_arrays(live_scene(used)[0])) == set()
    other = model_arrays(live_scene(used)[0])
    used.reset(episode_spec(ROBUST, "hopper", 4))
    dynamics = {"geom_friction", "body_mass", "body_inertia", "dof_damping"}
    assert changed(other, model_arrays(live_scene(used)[0])) == dynamics
    fresh.close()
    used.close()


def test_observation_noise_changes_the_state_only_and_not_the_simulation() -> None:
    clean = _rollout(CLEAN, "hopper", 1)[0]
    noisy_session = _session(ROBUST, "hopper.obs_noise.3")
    model = live_scene(noisy_session)[0]
    nominal = model_arrays(model)
    noisy = [noisy_session.reset(episode_spec(ROBUST, "hopper", 1))["state"]]
    qpos = []
    for action in _actions():
        noisy.append(noisy_session.step(action).observation["state"])
        qpos.append(live_scene(noisy_session)[1].qpos.copy())
    difference = np.stack(noisy) - clean
    assert 0.05 < difference.std() < 0.15  # std 0.1 noise on every entry
    assert changed(nominal, model_arrays(model)) == set()
    # the simulation itself followed the clean trajectory: hopper's state is qpos[1:] then qvel
    assert np.allclose(np.stack(qpos)[:, 1:], clean[1:, :5], atol=1e-6)
    noisy_session.close()


def test_action_delay_executes_each_action_k_steps_late() -> None:
    delayed = _session(ROBUST, "hopper.action_delay.2")  # 2 steps
    reference = _session(CLEAN, "hopper")
    actions = _actions()
    delayed.reset(episode_spec(ROBUST, "hopper", 0))
    reference.reset(episode_spec(CLEAN, "hopper", 0))
    shifted = np.concatenate([np.zeros((2, 3), np.float32), actions[:-2]])
    for a, b in zip(actions, shifted, strict=True):
        assert np.array_equal(delayed.step(a).observation["state"], reference.step(b).observation["state"])
    delayed.close()
    reference.close()


@pytest.mark.slow  # three evaluations through env workers: ~10 s idle, more on a loaded machine
def test_paired_arms_through_the_harness(tmp_path: Path) -> None:
    """A one-task draft of the robustness protocol through the real executor: the clean arm's records equal
    the clean protocol's, every arm ran the clean seeds, and two worker layouts agree record for record."""
    text = Path(vla_bench.__file__).parent.joinpath("benchmarks/mujoco/protocols/locomotion-robust@v1.toml").read_text()
    head, _, tasks = text.partition("[[tasks]]")
    draft = tmp_path / "draft.toml"
    draft.write_text(head.replace('id = "mujoco/locomotion-robust@v1"', 'id = "mujoco/hopper-robust-draft@v1"')
                     .replace("episodes_per_task = 20", "episodes_per_task = 1")
                     + "[[tasks]]" + tasks.split("[[tasks]]")[0])
    robust = load_protocol(str(draft))
    assert robust.task_names[0] == "hopper" and len(robust.task_names) == 17

    class Zero:
        def reset(self, task: object) -> None: ...
        def act(self, observation: dict) -> np.ndarray:
            return np.zeros(3, np.float32)

    one = vla_bench.evaluate(Zero, robust, workers=1, limit_episodes=1, out=tmp_path / "run")
    two = vla_bench.evaluate(Zero, robust, workers=2, envs_per_worker=3, limit_episodes=1, schedule_seed=3)
    assert sorted((r.key, r.outcome()) for r in one.records) == sorted((r.key, r.outcome()) for r in two.records)
    # locomotion@v1 restricted to its hopper task: the same id, so the same seeds
    clean_hopper = CLEAN.model_copy(update={"tasks": (CLEAN.task("hopper"),)})
    clean = vla_bench.evaluate(Zero, clean_hopper, limit_episodes=1)
    clean_arm = sorted((r for r in one.records if r.task == "hopper"), key=lambda r: r.key)
    assert [r.outcome() for r in clean_arm] == [r.outcome() for r in sorted(clean.records, key=lambda r: r.key)]
    by_index = {r.episode_index: r.seed for r in clean.records}
    assert all(r.seed == by_index[r.episode_index] for r in one.records)
    dynamics = sorted((r for r in one.records if r.task == "hopper.dynamics.1"), key=lambda r: r.key)
    assert [r.total_return for r in dynamics] != [r.total_return for r in clean_arm]
    # the run's report and `vla-bench robustness` show the per-axis table, paired on these episodes
    assert "## Robustness" in (tmp_path / "run" / "report.md").read_text()
    from typer.testing import CliRunner

    from vla_bench.cli.app import register_commands

    app = register_commands()
    shown = CliRunner().invoke(app, ["robustness", str(tmp_path / "run"), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    table = json.loads(shown.output)
    assert robust.perturbation is not None
    assert set(table["axes"]) == {a.name for a in robust.perturbation.axes} and table["n_pairs"] == {"hopper": 1}
