"""Every ``--agent`` form: baselines, the user's own ``pkg.module:factory``, ONNX and TorchScript files."""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from vlab_fakes import fake_protocol

import vla_bench
from vla_bench.agents import is_batched, load_agent
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")

# torch marks torch.jit.* and the TorchScript-based ONNX exporter deprecated; both are what users hand us
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

HOPPER = "mujoco/hopper@v1"
HOPPER_STATE, HOPPER_ACTIONS = 11, 3
CHUNK = 4

TASK = TaskSpec(name="t", instruction="", action_low=(-1.0, 0.0, 2.0), action_high=(1.0, 0.5, 3.0), max_steps=50,
                observation_mode="state", state_dim=4)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _observations(count: int, dim: int = HOPPER_STATE, seed: int = 7) -> list[Observation]:
    rng = np.random.default_rng(seed)
    return [{"state": rng.normal(size=dim).astype(np.float32)} for _ in range(count)]


# ------------------------------------------------------------------------------------------------ baselines
def _random_actions(seed: int, steps: int = 25, policy: object | None = None) -> np.ndarray:
    policy = policy if policy is not None else load_agent("baseline:random").factory()
    policy.reset(replace(TASK, episode_seed=seed))  # type: ignore[attr-defined]
    return np.stack([policy.act({"state": np.zeros(4, np.float32)}) for _ in range(steps)])  # type: ignore[attr-defined]


def test_random_baseline_is_seeded_per_episode_and_in_bounds() -> None:
    agent = load_agent("baseline:random")
    assert (agent.kind, agent.spec, agent.name) == ("baseline", "baseline:random", "baseline:random")
    first = _random_actions(1234)
    assert first.dtype == np.float32
    assert first.shape == (25, 3)
    low, high = np.array(TASK.action_low, np.float32), np.array(TASK.action_high, np.float32)
    assert np.all(first >= low)
    assert np.all(first <= high)
    assert np.all(first.std(axis=0) > 0.01)  # really random in every dimension
    assert first[:, 2].min() >= 2.0  # uses each dimension's own bounds, not [-1, 1]
    np.testing.assert_array_equal(first, _random_actions(1234))  # same seed, a fresh instance
    assert not np.allclose(first, _random_actions(1235))
    # one instance re-seeds at every reset: an episode does not continue the previous one's stream
    policy = agent.factory()
    _random_actions(99, policy=policy)
    np.testing.assert_array_equal(_random_actions(1234, policy=policy), first)


def test_zero_baseline() -> None:
    agent = load_agent("baseline:zero")
    assert agent.kind == "baseline"
    policy = agent.factory()
    policy.reset(TASK)
    action = policy.act({"state": np.ones(4, np.float32)})
    assert action.dtype == np.float32
    np.testing.assert_array_equal(action, np.zeros(3, np.float32))


def test_unknown_baseline_suggests_only_near_misses() -> None:
    with pytest.raises(UserError, match=r"Did you mean 'baseline:random'\?") as near:
        load_agent("baseline:randon")
    assert "baseline:zero" not in str(near.value)
    with pytest.raises(UserError) as far:
        load_agent("baseline:nope")
    message = str(far.value)
    assert "'baseline:nope'" in message
    assert "Did you mean" not in message  # 'nope' is close to no baseline; the shared prefix must not count
    assert "baseline:random" in message and "baseline:zero" in message  # the known ones are listed


@pytest.mark.parametrize(("spec", "fragment"), [
    ("missing.onnx", "'missing.onnx' does not exist"),
    ("missing.pt", "'missing.pt' does not exist"),
    ("policy", "cannot tell what kind of agent 'policy' is"),
    ("ws://no-such-host.invalid:8000", "cannot resolve the host of policy server"),
])
def test_unrecognised_agent_specs(spec: str, fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                  ) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        load_agent(spec)


# ------------------------------------------------------------------------------------ pkg.module:factory
USER_MODULE = '''
import numpy as np


class MyPolicy:
    def reset(self, task):
        self.dim = task.action_dim

    def act(self, observation):
        return np.full(self.dim, 0.25, dtype=np.float32)


def make_policy():
    return MyPolicy()


def not_a_policy():
    return 42


INSTANCE = MyPolicy()
VALUE = 3
'''


@pytest.fixture(params=["package", "namespace"])
def user_project(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A user's project in the current directory with a top-level package called ``agents``."""
    package = tmp_path / "agents"
    package.mkdir()
    if request.param == "package":
        (package / "__init__.py").write_text("")
    (package / "my_policy.py").write_text(textwrap.dedent(USER_MODULE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader puts the cwd on sys.path: undo it after
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name == "agents" or name.startswith("agents."):
            del sys.modules[name]


def test_a_user_package_named_agents_loads_from_the_current_directory(user_project: Path) -> None:
    agent = load_agent("agents.my_policy:make_policy")
    assert agent.kind == "python"
    assert agent.spec == "agents.my_policy:make_policy"
    assert not agent.shared
    source = user_project / "agents" / "my_policy.py"
    assert agent.sha256 == _sha256(source)
    policy = agent.factory()
    assert Path(sys.modules[type(policy).__module__].__file__).resolve() == source.resolve()  # type: ignore[arg-type]
    assert agent.factory() is not policy  # a factory: one instance per episode slot
    policy.reset(TASK)
    np.testing.assert_array_equal(policy.act({"state": np.zeros(4, np.float32)}), np.full(3, 0.25, np.float32))


def test_a_module_level_policy_instance_is_shared(user_project: Path) -> None:
    agent = load_agent("agents.my_policy:INSTANCE")
    assert agent.shared
    assert agent.factory() is agent.factory()
    assert type(agent.factory()).__name__ == "MyPolicy"


def test_a_user_factory_runs_through_the_harness(user_project: Path) -> None:
    result = vla_bench.evaluate("agents.my_policy:make_policy", fake_protocol(episodes=2))
    assert len(result.records) == 4
    assert all(record.error is None for record in result.records)
    assert result.summary["agent"]["kind"] == "python"


@pytest.mark.parametrize(("spec", "pattern"), [
    ("agents.nothere:make_policy", r"cannot import the agent's module 'agents\.nothere'"),
    ("nosuchpackage_xyz.mod:make", r"cannot import the agent's module 'nosuchpackage_xyz\.mod'"),
    ("agents.my_policy:nope", r"module 'agents\.my_policy' has no attribute 'nope'"),
    ("agents.my_policy:VALUE", r"'agents\.my_policy:VALUE' is neither a policy nor a callable"),
    ("agents.my_policy:", r"must be of the form 'package\.module:factory'"),
])
def test_python_agent_errors_name_the_problem(user_project: Path, spec: str, pattern: str) -> None:
    with pytest.raises(UserError, match=pattern):
        load_agent(spec)


def test_a_factory_that_returns_a_non_policy_is_a_user_error(user_project: Path) -> None:
    agent = load_agent("agents.my_policy:not_a_policy")  # only calling the factory can tell
    with pytest.raises(UserError, match=r"'agents\.my_policy:not_a_policy' returned int, which has no reset/act"):
        agent.factory()
    with pytest.raises(UserError, match="returned int"):
        vla_bench.evaluate(agent, fake_protocol(episodes=1))


# ----------------------------------------------------------------------------------------- model files
class _Mlp(torch.nn.Module):
    """state [B, 11] -> tanh actions [B, A], or a chunk [B, T, A]."""

    def __init__(self, actions: int = HOPPER_ACTIONS, chunk: int | None = None) -> None:
        super().__init__()
        self.chunk, self.actions = chunk, actions
        self.net = torch.nn.Sequential(torch.nn.Linear(HOPPER_STATE, 16), torch.nn.Tanh(),
                                       torch.nn.Linear(16, actions * (chunk or 1)), torch.nn.Tanh())

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        out = self.net(state)
        if self.chunk is not None:
            out = out.view(-1, self.chunk, self.actions)
        return out


def _model(actions: int = HOPPER_ACTIONS, chunk: int | None = None, seed: int = 0) -> _Mlp:
    torch.manual_seed(seed)
    return _Mlp(actions, chunk).eval()


def _expected(model: torch.nn.Module, observations: list[Observation]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(np.stack([o["state"] for o in observations]))).numpy()


def _export_onnx(model: torch.nn.Module, path: Path) -> Path:
    torch.onnx.export(model, (torch.zeros(2, HOPPER_STATE),), str(path), input_names=["state"],
                      output_names=["action"], dynamic_axes={"state": {0: "batch"}, "action": {0: "batch"}},
                      dynamo=False)
    return path


def _script(model: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.script(model), str(path))
    return path


def _trace(model: torch.nn.Module, path: Path) -> Path:
    torch.jit.save(torch.jit.trace(model, torch.zeros(2, HOPPER_STATE)), str(path))
    return path


FORMATS: dict[str, tuple[str, str, Callable[[torch.nn.Module, Path], Path]]] = {
    "onnx": ("onnx", ".onnx", _export_onnx),
    "torchscript-script": ("torchscript", ".pt", _script),
    "torchscript-trace": ("torchscript", ".pth", _trace),
}


@pytest.mark.parametrize("form", sorted(FORMATS))
@pytest.mark.parametrize("chunk", [None, CHUNK], ids=["single", "chunk"])
def test_a_model_file_acts_like_the_model(form: str, chunk: int | None, tmp_path: Path) -> None:
    kind, suffix, save = FORMATS[form]
    model = _model(chunk=chunk)
    path = save(model, tmp_path / f"policy{suffix}")
    agent = load_agent(str(path))
    assert agent.kind == kind
    assert agent.sha256 == _sha256(path)
    assert agent.name == "policy"
    assert agent.shared
    policy = agent.factory()
    assert is_batched(policy)
    assert agent.factory() is policy
    observations = _observations(5)
    expected = _expected(model, observations)
    assert expected.shape == ((5, HOPPER_ACTIONS) if chunk is None else (5, chunk, HOPPER_ACTIONS))
    actions = policy.act_batch(observations)
    assert isinstance(actions, np.ndarray) and actions.dtype == np.float32
    assert actions.shape == expected.shape
    np.testing.assert_allclose(actions, expected, atol=1e-5)
    np.testing.assert_allclose(policy.act(observations[3]), expected[3], atol=1e-5)
    assert not np.allclose(actions[0], actions[1])  # the rows are really the rows of their own observations


@pytest.mark.parametrize("form", ["onnx", "torchscript-script"])
def test_a_model_file_evaluates_end_to_end(form: str, tmp_path: Path) -> None:
    _, suffix, save = FORMATS[form]
    path = save(_model(), tmp_path / f"policy{suffix}")
    result = vla_bench.evaluate(str(path), HOPPER, limit_episodes=2)
    assert len(result.records) == 2
    assert [r.error for r in result.records] == [None, None]
    assert all(r.length >= 1 for r in result.records)
    assert result.summary["status"] == "complete"
    assert result.summary["agent"]["sha256"] == _sha256(path)


def test_a_model_with_the_wrong_action_width_fails_every_episode_cleanly(tmp_path: Path) -> None:
    path = _export_onnx(_model(actions=HOPPER_ACTIONS + 1), tmp_path / "wide.onnx")
    result = vla_bench.evaluate(str(path), HOPPER, limit_episodes=2)
    assert len(result.records) == 2
    assert result.summary["status"] == "complete"
    for record in result.records:
        assert record.error_kind == "invalid_action"
        assert "shape (4,)" in (record.error or "")
        assert "expected (3,)" in (record.error or "")
        assert record.length == 0
    assert result.scores["tasks"]["hopper"]["errors"] == {"invalid_action": 2}


def test_an_onnx_model_exported_with_a_fixed_batch_of_one_still_serves_a_batch(tmp_path: Path) -> None:
    """torch.onnx.export's defaults: batch fixed at 1 and an input named after the first op, not 'state'."""
    model = _model()
    path = tmp_path / "static.onnx"
    torch.onnx.export(model, (torch.zeros(1, HOPPER_STATE),), str(path), dynamo=False)
    policy = load_agent(str(path)).factory()
    assert is_batched(policy)
    observations = _observations(5)
    np.testing.assert_allclose(policy.act_batch(observations), _expected(model, observations), atol=1e-5)


class _PixelModel(torch.nn.Module):
    """uint8 image [B, H, W, 3] -> actions [B, 3]: a linear map of the mean colour."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.linear = torch.nn.Linear(3, HOPPER_ACTIONS)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(image.float().mean(dim=(1, 2)) / 64.0))


def test_a_single_input_onnx_model_named_for_a_camera_is_fed_that_camera(tmp_path: Path) -> None:
    model = _PixelModel().eval()
    path = tmp_path / "pixels.onnx"
    torch.onnx.export(model, (torch.zeros(2, 84, 84, 3, dtype=torch.uint8),), str(path), input_names=["image_track"],
                      dynamic_axes={"image_track": {0: "batch"}}, dynamo=False)
    policy = load_agent(str(path)).factory()
    assert is_batched(policy)
    rng = np.random.default_rng(3)
    observations: list[Observation] = [{"images": {"track": rng.integers(0, 256, (84, 84, 3), dtype=np.uint8)}}
                                       for _ in range(3)]
    with torch.no_grad():
        expected = model(torch.from_numpy(np.stack([o["images"]["track"] for o in observations]))).numpy()
    np.testing.assert_allclose(policy.act_batch(observations), expected, atol=1e-5)
    result = vla_bench.evaluate(str(path), "mujoco/hopper-pixels@v1", limit_episodes=1)  # the README's example
    assert [r.error for r in result.records] == [None]
    assert result.records[0].length >= 1


class _Payload:
    """Unpickling this runs ``os.mkdir(marker)``: the trace of a loader that unpickles."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("content", ["state_dict", "pickled_module", "plain_pickle", "garbage", "empty"])
def test_a_pt_file_that_is_not_torchscript_is_refused_without_unpickling(
    content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "unpickled"
    path = tmp_path / "policy.pt"
    if content == "state_dict":
        torch.save({**_model().state_dict(), "payload": _Payload(marker)}, str(path))
    elif content == "pickled_module":
        torch.save(_model(), str(path))
    elif content == "plain_pickle":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    elif content == "garbage":
        path.write_bytes(b"\x00not a model\xff" * 64)
    else:
        path.write_bytes(b"")
    loads: list[str] = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append("torch.load"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: loads.append("pickle.load"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: loads.append("pickle.loads"))
    with pytest.raises(UserError, match=r"policy\.pt is not a TorchScript archive \(save with torch\.jit\.save\)"):
        load_agent(str(path))
    assert loads == []
    assert not marker.exists()
