"""robomimic HDF5 datasets: demonstrations as arrays, the low-dim state, ``env_args``, filter keys; D4RL conversion.

The layout is robomimic's (``docs/datasets/overview.md``; written by ``robomimic/scripts/dataset_states_to_obs.py``):

    data/                     attrs: ``env_args`` (JSON: env_name, env_version, type, env_kwargs), ``total``
      demo_N/                 attrs: ``num_samples``, ``model_file`` (MJCF of the episode), optional ``ep_meta``
        actions [T, A]  rewards [T]  dones [T]  states [T, S] (flattened MuJoCo state; absent in some files)
        obs/<key> [T, ...]    next_obs/<key> [T, ...] (optional)
    mask/<filter>             demo names (bytes) of a subset, e.g. ``train`` / ``valid``, ``20_percent``

The low-dim state is robomimic's observation keys concatenated in sorted order - the order robomimic's networks
concatenate them (``utils/file_utils.py`` ``get_shape_metadata_from_dataset`` iterates ``sorted(all_obs_keys)``)
and the order of the robomimic protocols' ``state_keys``: ``object``, ``robot0_eef_pos``, ``robot0_eef_quat``,
``robot0_gripper_qpos`` (two-arm tasks add ``robot1_*``). Images (4-D ``obs`` arrays) are read only when asked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vla_bench.datasets.d4rl_format import OfflineDataset
from vla_bench.datasets.d4rl_hdf5 import open_hdf5
from vla_bench.datasets.validation import DatasetError

if TYPE_CHECKING:
    import h5py

ROBOT_KEYS = ("eef_pos", "eef_quat", "gripper_qpos")  # per robot, robomimic's paper configs
OBJECT_KEY = "object"
_DEMO_NAME = re.compile(r"^demo_(\d+)$")
_LAYOUT = ("robomimic's layout: a 'data' group with an 'env_args' JSON attribute and groups 'demo_N' holding "
           "'actions' [T, A], 'rewards' [T], 'dones' [T], 'obs/<key>' [T, ...] (optional: 'states', 'next_obs')")


def low_dim_keys(n_robots: int, *, with_object: bool = True) -> tuple[str, ...]:
    """robomimic's low-dim observation keys for ``n_robots`` arms (its paper configs), in concatenation order."""
    keys = [f"robot{i}_{key}" for i in range(n_robots) for key in ROBOT_KEYS]
    return tuple(sorted([*keys, OBJECT_KEY] if with_object else keys))


@dataclass
class RobomimicDemo:
    """One demonstration. ``obs`` / ``next_obs`` hold the keys that were read, as stored (float64 for low-dim)."""

    name: str
    actions: NDArray[np.float32]
    rewards: NDArray[np.float32]
    dones: NDArray[np.bool_]
    obs: dict[str, NDArray[np.generic]]  # numeric arrays, [T, ...]
    next_obs: dict[str, NDArray[np.generic]] | None = None
    states: NDArray[np.float64] | None = None
    model_file: str | None = None

    def __len__(self) -> int:
        return len(self.actions)

    def state(self, keys: Sequence[str]) -> NDArray[np.float32]:
        """[T, D] float32: the low-dim ``keys`` concatenated in the given order."""
        return _concat(self.obs, keys, self.name)

    def next_state(self, keys: Sequence[str]) -> NDArray[np.float32] | None:
        return None if self.next_obs is None else _concat(self.next_obs, keys, self.name)


@dataclass
class RobomimicDataset:
    path: str
    env_args: dict[str, object]  # the 'env_args' JSON object: env_name (a str), env_kwargs (an object), ...
    demos: list[RobomimicDemo]
    filter_keys: dict[str, list[str]] = field(default_factory=dict)  # every mask/<name> of the file
    filter_key: str | None = None  # the one the demos were selected with

    @property
    def env_name(self) -> str:
        return str(self.env_args["env_name"])

    @property
    def env_kwargs(self) -> dict[str, object]:
        kwargs = self.env_args.get("env_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    @property
    def n_robots(self) -> int:
        robots = self.env_kwargs.get("robots", ["robot"])
        return len(robots) if isinstance(robots, (list, tuple)) else 1

    @property
    def action_dim(self) -> int:
        return int(self.demos[0].actions.shape[1])

    def state_keys(self, *, with_object: bool = True) -> tuple[str, ...]:
        """robomimic's low-dim keys for this dataset's robots, in sorted (concatenation) order."""
        return low_dim_keys(self.n_robots, with_object=with_object)

    def to_offline_dataset(self, keys: Sequence[str] | None = None, *,
                           protocol_id: str | None = None) -> OfflineDataset:
        """The demonstrations as one D4RL-format dataset (``vla_bench.datasets.write_d4rl`` writes it; the
        reference trainers read it), observations = ``keys`` (default :meth:`state_keys`) concatenated.

        Each demo is one episode. Its last step is terminal where robomimic marks it done (the demo ended in
        success), else a timeout; robomimic's other ``dones`` (done at every success step, its ``done_mode``
        2) are not carried over, because a D4RL terminal ends an episode. ``next_observations`` come from
        ``next_obs`` where every demo has it. ``protocol_id`` is recorded as the file's ``protocol_id``.
        """
        chosen = tuple(keys) if keys is not None else self.state_keys()
        if not self.demos:
            raise DatasetError(f"{self.path}: no demonstrations to convert")
        observations = [demo.state(chosen) for demo in self.demos]
        following = [demo.next_state(chosen) for demo in self.demos]
        terminals, timeouts = [], []
        for demo in self.demos:
            last = np.zeros(len(demo), dtype=bool)
            last[-1] = True
            ended = bool(demo.dones[-1])
            terminals.append(last & ended)
            timeouts.append(last & (not ended))
        arrays: dict[str, NDArray[np.generic]] = {
            "observations": np.concatenate(observations),
            "actions": np.concatenate([demo.actions for demo in self.demos]),
            "rewards": np.concatenate([demo.rewards for demo in self.demos]),
            "terminals": np.concatenate(terminals),
            "timeouts": np.concatenate(timeouts),
        }
        if all(nxt is not None for nxt in following):
            arrays["next_observations"] = np.concatenate([nxt for nxt in following if nxt is not None])
        metadata: dict[str, object] = {"source_format": "robomimic", "source": self.path, "env_name": self.env_name,
                                    "env_version": self.env_args.get("env_version"), "state_keys": list(chosen),
                                    "demos": [demo.name for demo in self.demos], "filter_key": self.filter_key}
        if protocol_id is not None:
            metadata["protocol_id"] = protocol_id
        return OfflineDataset.from_arrays(arrays, source=self.path, metadata=metadata)


def read_robomimic(path: str | os.PathLike[str], *, filter_key: str | None = None,
                   obs_keys: Iterable[str] | None = None, next_obs: bool = True) -> RobomimicDataset:
    """Read and validate a robomimic HDF5 file.

    ``filter_key`` selects the demos listed in ``mask/<filter_key>``; ``obs_keys`` the observation keys to read
    (default: every low-dim one, i.e. each ``obs`` array of 1 or 2 dimensions; name image keys to read them).
    Raises :class:`DatasetError` naming the file, the problem and what a robomimic file holds instead.
    """
    import h5py  # noqa: PLC0415 - only when a file is read

    handle, source = open_hdf5(path)
    with handle:
        data = handle.get("data")
        if not isinstance(data, h5py.Group):
            raise DatasetError(f"{source}: no 'data' group; not a robomimic dataset ({_LAYOUT}). Found: "
                               f"{', '.join(sorted(handle)) or 'nothing'}")
        env_args = _env_args(data.attrs, source)
        masks = _filter_keys(handle, source)
        names = _demo_names(data, source)
        if filter_key is not None:
            if filter_key not in masks:
                raise DatasetError(f"{source}: no filter key {filter_key!r}; the file has "
                                   f"{', '.join(sorted(masks)) or 'no mask/ group'}")
            unknown = sorted(set(masks[filter_key]) - set(names))
            if unknown:
                raise DatasetError(f"{source}: mask/{filter_key} names demos that are not in 'data': {unknown[:5]}")
            chosen = set(masks[filter_key])
            names = [name for name in names if name in chosen]
        wanted = None if obs_keys is None else list(obs_keys)
        demos = [_read_demo(data[name], name, wanted, next_obs, source) for name in names]
    if demos:
        dims = {demo.actions.shape[1] for demo in demos}
        if len(dims) > 1:
            raise DatasetError(f"{source}: demos have different action sizes {sorted(dims)}")
    return RobomimicDataset(path=source, env_args=env_args, demos=demos, filter_keys=masks, filter_key=filter_key)


def _env_args(attrs: h5py.AttributeManager, source: str) -> dict[str, object]:
    raw = attrs.get("env_args")
    if raw is None:
        raise DatasetError(f"{source}: 'data' has no 'env_args' attribute; robomimic stores the environment's "
                           "name and constructor arguments there as JSON")
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        env_args = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{source}: data.attrs['env_args'] is not valid JSON ({exc})") from exc
    if not isinstance(env_args, dict) or not isinstance(env_args.get("env_name"), str):
        raise DatasetError(f"{source}: env_args must be a JSON object with 'env_name' (and 'env_kwargs'); got "
                           f"{str(raw)[:80]!r}")
    if not isinstance(env_args.get("env_kwargs", {}), dict):
        raise DatasetError(f"{source}: env_args['env_kwargs'] must be a JSON object")
    return env_args


def _filter_keys(handle: h5py.File, source: str) -> dict[str, list[str]]:
    import h5py  # noqa: PLC0415

    group = handle.get("mask")
    if group is None:
        return {}
    if not isinstance(group, h5py.Group):
        raise DatasetError(f"{source}: 'mask' must be a group of demo-name lists")
    masks: dict[str, list[str]] = {}
    for name, item in group.items():
        if not isinstance(item, h5py.Dataset) or item.ndim != 1:
            raise DatasetError(f"{source}: mask/{name} must be a 1-D list of demo names")
        masks[name] = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in item[()].tolist()]
    return masks


def _demo_names(data: h5py.Group, source: str) -> list[str]:
    """The demos in robomimic's order (by their integer index, as robomimic sorts them)."""
    names = list(data.keys())
    bad = [name for name in names if not _DEMO_NAME.match(name)]
    if bad:
        raise DatasetError(f"{source}: 'data' holds {bad[:5]}; robomimic names its demos 'demo_N'")
    return sorted(names, key=lambda name: int(name[5:]))


def _read_demo(group: h5py.Group, name: str, obs_keys: list[str] | None, with_next: bool, source: str) -> RobomimicDemo:
    import h5py  # noqa: PLC0415

    where = f"{source}: data/{name}"
    for key in ("actions", "obs"):
        if key not in group:
            raise DatasetError(f"{where} has no '{key}' ({_LAYOUT})")
    actions = _array(group, "actions", where, ndim=2)
    n = len(actions)
    if n == 0:
        raise DatasetError(f"{where} has no steps")
    rewards = _array(group, "rewards", where, ndim=1, rows=n) if "rewards" in group else np.zeros(n)
    dones = _array(group, "dones", where, ndim=1, rows=n) if "dones" in group else np.zeros(n)
    if np.any((dones != 0) & (dones != 1)):
        raise DatasetError(f"{where}/dones must hold 0/1 flags")
    states = _array(group, "states", where, ndim=2, rows=n) if "states" in group else None
    obs = _read_obs(group["obs"], obs_keys, f"{where}/obs", n)
    following = None
    if with_next and isinstance(group.get("next_obs"), h5py.Group):
        following = _read_obs(group["next_obs"], list(obs), f"{where}/next_obs", n)
    model = group.attrs.get("model_file")
    for key, values in (("actions", actions), ("rewards", rewards)):
        if not np.all(np.isfinite(values)):
            raise DatasetError(f"{where}/{key} holds non-finite values (NaN or inf)")
    return RobomimicDemo(
        name=name,
        actions=actions.astype(np.float32),
        rewards=rewards.astype(np.float32),
        dones=dones.astype(bool),
        obs=obs,
        next_obs=following,
        states=None if states is None else states.astype(np.float64),
        model_file=model.decode("utf-8") if isinstance(model, bytes) else (None if model is None else str(model)),
    )


def _read_obs(group: h5py.Group, keys: list[str] | None, where: str, rows: int) -> dict[str, NDArray[np.generic]]:
    import h5py  # noqa: PLC0415

    if not isinstance(group, h5py.Group):
        raise DatasetError(f"{where} must be a group of per-key arrays")
    if keys is None:
        keys = [key for key, item in group.items() if isinstance(item, h5py.Dataset) and item.ndim <= 2]
    missing = [key for key in keys if key not in group]
    if missing:
        raise DatasetError(f"{where} has no {missing}; it holds {', '.join(sorted(group)) or 'nothing'}")
    obs: dict[str, NDArray[np.generic]] = {}
    for key in keys:
        array = np.asarray(group[key][()])
        if array.ndim == 1:
            array = array[:, None]
        if len(array) != rows:
            raise DatasetError(f"{where}/{key} has {len(array)} rows but the demo has {rows} actions; every array "
                               "needs one row per step")
        if array.dtype.kind not in "biuf":
            raise DatasetError(f"{where}/{key} holds {array.dtype} values; observations must be numeric")
        obs[key] = array
    return obs


def _array(group: h5py.Group, key: str, where: str, *, ndim: int, rows: int | None = None) -> NDArray[np.generic]:
    import h5py  # noqa: PLC0415

    item = group[key]
    if not isinstance(item, h5py.Dataset):
        raise DatasetError(f"{where}/{key} is a group; it must be an array")
    array = np.asarray(item[()])
    if array.dtype.kind not in "biuf":
        raise DatasetError(f"{where}/{key} holds {array.dtype} values; it must be numeric")
    if ndim == 1 and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != ndim:
        raise DatasetError(f"{where}/{key} has shape {array.shape}; it must be {ndim}-D")
    if rows is not None and len(array) != rows:
        raise DatasetError(f"{where}/{key} has {len(array)} rows but the demo has {rows} actions")
    return array


def _concat(obs: Mapping[str, NDArray[np.generic]], keys: Sequence[str], demo: str) -> NDArray[np.float32]:
    missing = [key for key in keys if key not in obs]
    if missing:
        raise DatasetError(f"{demo}: observation keys {missing} were not read or are not in the file; read: "
                           f"{', '.join(sorted(obs)) or 'none'}")
    parts = [obs[key].reshape(len(obs[key]), -1) for key in keys]
    state: NDArray[np.float32] = np.concatenate(parts, axis=1).astype(np.float32)
    if not np.all(np.isfinite(state)):
        bad = int(np.flatnonzero(~np.isfinite(state).all(axis=1))[0])
        raise DatasetError(f"{demo}: non-finite observation values (NaN or inf), first at step {bad}")
    return state

