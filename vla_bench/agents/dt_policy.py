"""Running an exported Decision Transformer: the per-episode context lives here, not in the graph.

The graph (``model.onnx``) takes the last ``seq_len`` steps - ``states [B,K,S]``, ``actions [B,K,A]``,
``returns_to_go [B,K]``, ``timesteps [B,K]`` (int64) and ``mask [B,K]`` (1 for real steps, 0 for the left
padding of an episode's first steps) - and returns the next ``action [B,A]``. ``reward.onnx`` maps
``(state, action, next_state)`` to the predicted reward, because the harness tells policies observations and
not rewards; :class:`ContextPolicy` subtracts it from the return-to-go after every step.

Needs numpy and onnxruntime only (no torch, no trainer code): ``--agent DIR/model.onnx`` builds one
:class:`ContextPolicy` per live episode (it has no ``act_batch``, so the harness never shares one between
episodes), all of them sharing the two onnxruntime sessions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NotRequired, TypedDict

import numpy as np
from numpy.typing import NDArray

from vla_bench.agents.digest import file_sha256
from vla_bench.spec import Observation, TaskSpec
from vla_bench.spec.errors import UserError

KIND = "decision_transformer"
INPUTS = ("states", "actions", "returns_to_go", "timesteps", "mask")
REWARD_INPUTS = ("state", "action", "next_state")
Feeds = dict[str, NDArray[np.float32] | NDArray[np.int64]]  # float32 inputs; timesteps int64


class RewardModel(TypedDict, total=False):
    file: str  # next to model.onnx (default reward.onnx)
    sha256: str
    inputs: list[str]


class Context(TypedDict):
    """The manifest's ``context`` block of an exported Decision Transformer."""

    kind: str
    reward_model: NotRequired[RewardModel]
    seq_len: int
    target_return: float
    action_dim: int
    episode_len: NotRequired[int]
    inputs: NotRequired[list[str]]


class ContextPolicy:
    """One episode's history of (return-to-go, state, action) and the calls that extend it."""

    def __init__(self, act: Callable[[Feeds], NDArray[np.float32]], reward: Callable[[Feeds], NDArray[np.float32]],
                 *, seq_len: int, action_dim: int, target_return: float) -> None:
        self._act, self._reward = act, reward
        self.seq_len, self.action_dim, self.target_return = int(seq_len), int(action_dim), float(target_return)
        self._states: deque[NDArray[np.float32]] = deque(maxlen=self.seq_len)
        self._actions: deque[NDArray[np.float32]] = deque(maxlen=self.seq_len)
        self._rtg: deque[float] = deque(maxlen=self.seq_len)
        self._t = 0

    def reset(self, task: TaskSpec) -> None:
        self._states.clear()
        self._actions.clear()
        self._rtg.clear()
        self._t = 0

    def act(self, observation: Observation) -> NDArray[np.float32]:
        state = np.asarray(observation["state"], dtype=np.float32).reshape(-1)
        if self._states:  # the step just taken: lower the return-to-go by its (predicted) reward
            reward = self._reward({"state": self._states[-1][None], "action": self._actions[-1][None],
                                   "next_state": state[None]})
            rtg = self._rtg[-1] - float(np.asarray(reward).reshape(-1)[0])
        else:
            rtg = self.target_return
        self._states.append(state)
        self._rtg.append(rtg)
        self._actions.append(np.zeros(self.action_dim, dtype=np.float32))  # the slot the model predicts
        action = np.asarray(self._act(self._feeds()), dtype=np.float32).reshape(-1)
        self._actions[-1] = action
        self._t += 1
        return action

    def _feeds(self) -> Feeds:
        k, n = self.seq_len, len(self._states)
        state_dim = self._states[-1].shape[0]
        states = np.zeros((1, k, state_dim), np.float32)
        rtg, mask = np.zeros((1, k), np.float32), np.zeros((1, k), np.float32)
        timesteps = np.zeros((1, k), np.int64)
        states[0, k - n:] = np.stack(self._states)
        actions = np.zeros((1, k, self.action_dim), np.float32)
        actions[0, k - n:] = np.stack(self._actions)
        rtg[0, k - n:] = np.asarray(self._rtg, np.float32)
        mask[0, k - n:] = 1.0
        timesteps[0, k - n:] = np.arange(self._t - n + 1, self._t + 1)
        return {"states": states, "actions": actions, "returns_to_go": rtg, "timesteps": timesteps, "mask": mask}


class OnnxCall:
    """An onnxruntime session as a function of named feeds (one math thread, as the other ONNX agents)."""

    def __init__(self, path: Path, names: tuple[str, ...]) -> None:
        import onnxruntime as ort  # noqa: PLC0415

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise UserError(f"onnxruntime cannot load {path}: {exc}") from exc
        found = tuple(i.name for i in self.session.get_inputs())
        if set(found) != set(names):
            raise UserError(f"{path} takes inputs {found}; a Decision Transformer export takes {names}")
        self.output = self.session.get_outputs()[0].name

    def __call__(self, feeds: Feeds) -> NDArray[np.float32]:
        (out,) = self.session.run([self.output], feeds)
        return np.asarray(out, dtype=np.float32)


def context_factory(directory: Path, context: Context, model: Path) -> Callable[[], ContextPolicy]:
    """A factory of fresh per-episode policies over shared sessions, from the manifest's ``context``."""
    if context.get("kind") != KIND:
        raise UserError(f"{directory}: unknown context kind {context.get('kind')!r} (this version knows {KIND!r})")
    reward_file = directory / str(context.get("reward_model", {}).get("file", "reward.onnx"))
    if not reward_file.is_file():
        raise UserError(f"{directory}: the manifest names {reward_file.name}, which is missing")
    expected = context.get("reward_model", {}).get("sha256")
    if expected and file_sha256(reward_file) != expected:
        raise UserError(f"{reward_file} does not match its manifest: re-export it with `vla-bench train dt`")
    act, reward = OnnxCall(model, INPUTS), OnnxCall(reward_file, REWARD_INPUTS)
    seq_len, target = int(context["seq_len"]), float(context["target_return"])
    action_dim = int(context["action_dim"])
    return lambda: ContextPolicy(act, reward, seq_len=seq_len, action_dim=action_dim, target_return=target)
