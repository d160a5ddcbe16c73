"""D4RL-format offline datasets: the in-memory form, validation, episodes, Q-learning transitions, HDF5 I/O.

The layout is D4RL's (``d4rl/offline_env.py`` ``get_dataset``): one row per environment step, in episode
order, of ``observations`` [N, obs_dim], ``actions`` [N, action_dim], ``rewards`` [N], ``terminals`` [N]
(the step ended the episode in a terminal state) and ``timeouts`` [N] (the step ended it by a time limit);
``next_observations`` [N, obs_dim] is optional (D4RL's own files do not have it; files written here do).
Extra groups (``infos/*``, ``metadata/*``, ``episodes/*``) are allowed; the reader loads ``episodes/*`` and
the file's attributes and ignores the rest.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vla_bench.spec.errors import UserError

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
OPTIONAL_KEYS = ("timeouts", "next_observations")
METADATA_ATTR = "vla_bench"  # root attribute holding the JSON metadata written by write_d4rl
EPISODES_GROUP = "episodes"
INFOS_GROUP = "infos"
_LAYOUT = ("'observations' [N, obs_dim], 'actions' [N, action_dim], 'rewards' [N], 'terminals' [N] and, "
           "usually, 'timeouts' [N] (optional: 'next_observations' [N, obs_dim])")


class DatasetError(UserError):
    """A dataset that cannot be used as it is: the message names the file, the problem and the fix."""


@dataclass
class Episode:
    """One episode's rows of a dataset (views, not copies). ``start`` is the row of its first step."""

    start: int
    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float32]
    terminals: NDArray[np.bool_]
    timeouts: NDArray[np.bool_]
    next_observations: NDArray[np.float32] | None = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def terminated(self) -> bool:
        return bool(self.terminals[-1])

    @property
    def truncated(self) -> bool:
        return bool(self.timeouts[-1])

    @property
    def complete(self) -> bool:
        """False only for trailing rows that no terminal or timeout closes (an interrupted recording)."""
        return self.terminated or self.truncated

    @property
    def total_return(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))


@dataclass
class Transitions:
    """``(s, a, r, s', done)`` rows as D4RL's ``qlearning_dataset`` returns them (``terminals`` = done)."""

    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    next_observations: NDArray[np.float32]
    rewards: NDArray[np.float32]
    terminals: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.rewards)

    def as_dict(self) -> dict[str, NDArray[Any]]:
        return {"observations": self.observations, "actions": self.actions,
                "next_observations": self.next_observations, "rewards": self.rewards, "terminals": self.terminals}


@dataclass
class OfflineDataset:
    observations: NDArray[np.float32]
    actions: NDArray[np.float32]
    rewards: NDArray[np.float32]
    terminals: NDArray[np.bool_]
    timeouts: NDArray[np.bool_]
    next_observations: NDArray[np.float32] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    episode_table: dict[str, NDArray[Any]] = field(default_factory=dict)  # per-episode columns, where stored
    source: str = "<memory>"

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any], *, source: str = "<memory>",
                    metadata: Mapping[str, Any] | None = None) -> OfflineDataset:
        """Validate D4RL-layout arrays (a missing ``timeouts`` means none) and convert them to canonical dtypes."""
        checked = _checked_arrays(dict(arrays), source)
        n = len(checked["observations"])
        timeouts = checked.get("timeouts")
        return cls(
            observations=checked["observations"].astype(np.float32, copy=False),
            actions=checked["actions"].astype(np.float32, copy=False),
            rewards=checked["rewards"].astype(np.float32, copy=False),
            terminals=checked["terminals"].astype(bool),
            timeouts=timeouts.astype(bool) if timeouts is not None else np.zeros(n, dtype=bool),
            next_observations=(checked["next_observations"].astype(np.float32, copy=False)
                               if "next_observations" in checked else None),
            metadata=dict(metadata or {}),
            source=source,
        )

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[1])

    def arrays(self) -> dict[str, NDArray[Any]]:
        data: dict[str, NDArray[Any]] = {"observations": self.observations, "actions": self.actions,
                                         "rewards": self.rewards, "terminals": self.terminals,
                                         "timeouts": self.timeouts}
        if self.next_observations is not None:
            data["next_observations"] = self.next_observations
        return data

    def validate(self, *, expected_obs_dim: int | None = None, expected_action_dim: int | None = None,
                 expected_for: str | None = None) -> None:
        """Raise :class:`DatasetError` unless the arrays are consistent, finite and of the expected sizes."""
        _checked_arrays(self.arrays(), self.source)
        check_sizes(self.obs_dim, self.action_dim, source=self.source, expected_obs_dim=expected_obs_dim,
                    expected_action_dim=expected_action_dim, expected_for=expected_for)

    def episode_bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` row ranges of the episodes, split after every step with ``terminals | timeouts``;
        trailing rows that nothing closes form a last, incomplete episode."""
        ends = np.flatnonzero(self.terminals | self.timeouts) + 1
        starts = np.concatenate([[0], ends])
        stops = np.concatenate([ends, [len(self)]])
        return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True) if b > a]

    def episodes(self) -> Iterator[Episode]:
        for start, stop in self.episode_bounds():
            rows = slice(start, stop)
            yield Episode(start=start, observations=self.observations[rows], actions=self.actions[rows],
                          rewards=self.rewards[rows], terminals=self.terminals[rows], timeouts=self.timeouts[rows],
                          next_observations=None if self.next_observations is None else self.next_observations[rows])

    def qlearning(self, *, terminate_on_end: bool = False) -> Transitions:
        return qlearning_dataset(self, terminate_on_end=terminate_on_end)


def qlearning_dataset(dataset: OfflineDataset, *, terminate_on_end: bool = False) -> Transitions:
    """Transitions as D4RL's ``d4rl.qlearning_dataset`` defines them (``d4rl/__init__.py``).

    D4RL's rule: transition ``i`` is ``(obs[i], act[i], rew[i], obs[i+1], terminals[i])`` for ``i < N-1``; a
    step with ``timeouts[i]`` set is dropped unless ``terminate_on_end`` (its next observation belongs to the
    next episode), and ``terminals`` is passed through as ``done``. Where the file stores
    ``next_observations`` (files written by vla-bench do), transition ``i`` uses ``next_observations[i]``
    instead, which is exact also for terminal steps and lets the last row count (D4RL's shifted
    ``obs[i+1]`` is the next episode's first observation there; ``done`` masks it either way).
    """
    n = len(dataset)
    stored = dataset.next_observations is not None
    count = n if stored else max(n - 1, 0)
    keep = np.ones(count, dtype=bool)
    if not terminate_on_end:
        keep &= ~dataset.timeouts[:count]
    rows = np.flatnonzero(keep)
    if dataset.next_observations is not None:
        next_obs = dataset.next_observations[rows]
    else:
        next_obs = dataset.observations[rows + 1]
    return Transitions(observations=dataset.observations[rows], actions=dataset.actions[rows],
                       next_observations=next_obs, rewards=dataset.rewards[rows], terminals=dataset.terminals[rows])


# ---------------------------------------------------------------------------------------------- validation
def check_sizes(obs_dim: int, action_dim: int, *, source: str, expected_obs_dim: int | None,
                expected_action_dim: int | None, expected_for: str | None) -> None:
    target = expected_for or "the environment"
    if expected_obs_dim is not None and obs_dim != expected_obs_dim:
        hint = ("; was it made for another environment or observation layout? Collect data for this protocol "
                "with `vla-bench collect`")
        if obs_dim == 111 and expected_obs_dim == 27:
            hint = ("; this looks like D4RL's ant-v2 layout (111 values): its first 27 columns are the Ant "
                    "state this protocol observes, the 84 contact forces after them were zero on D4RL's MuJoCo "
                    "2.0 stack - keep observations[:, :27] (and next_observations[:, :27])")
        raise DatasetError(f"{source}: observations have {obs_dim} values per step but {target} observes "
                           f"{expected_obs_dim}{hint}")
    if expected_action_dim is not None and action_dim != expected_action_dim:
        raise DatasetError(f"{source}: actions have {action_dim} values per step but {target} takes "
                           f"{expected_action_dim}; the data was recorded on another environment")


def _checked_arrays(arrays: dict[str, Any], source: str) -> dict[str, NDArray[Any]]:
    """The arrays as numpy, 1-D columns squeezed, after every structural check; raises DatasetError."""
    missing = [key for key in REQUIRED_KEYS if key not in arrays or arrays[key] is None]
    if missing:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DatasetError(f"{source}: missing {' and '.join(repr(k) for k in missing)}. A D4RL-format dataset "
                           f"holds {_LAYOUT}; found: {found}")
    out: dict[str, NDArray[Any]] = {}
    for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
        if key not in arrays or arrays[key] is None:
            continue
        array = np.asarray(arrays[key])
        if array.dtype.kind not in "biuf":
            raise DatasetError(f"{source}: '{key}' holds {array.dtype} values; it must be numeric")
        if key in ("observations", "actions", "next_observations"):
            if array.ndim != 2:
                raise DatasetError(f"{source}: '{key}' has shape {array.shape}; it must be 2-D "
                                   f"[steps, {'action_dim' if key == 'actions' else 'obs_dim'}]")
        else:
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise DatasetError(f"{source}: '{key}' has shape {array.shape}; it must be 1-D [steps]")
        out[key] = array
    n = len(out["observations"])
    if n == 0:
        raise DatasetError(f"{source}: the dataset holds no steps ('observations' has 0 rows)")
    for key, array in out.items():
        if len(array) != n:
            raise DatasetError(f"{source}: length mismatch: '{key}' has {len(array)} rows but 'observations' has "
                               f"{n}; every array needs exactly one row per step")
    if "next_observations" in out and out["next_observations"].shape != out["observations"].shape:
        raise DatasetError(f"{source}: 'next_observations' has shape {out['next_observations'].shape} but "
                           f"'observations' has {out['observations'].shape}; they must match")
    for key in ("terminals", "timeouts"):
        if key in out and out[key].dtype.kind != "b":
            bad = np.flatnonzero((out[key] != 0) & (out[key] != 1))
            if bad.size:
                raise DatasetError(f"{source}: '{key}' must hold 0/1 flags, found {out[key][bad[0]].item()!r} "
                                   f"at row {int(bad[0])}")
    for key in ("observations", "actions", "rewards", "next_observations"):
        if key in out and out[key].dtype.kind == "f":
            finite = np.isfinite(out[key])
            if not finite.all():
                bad_rows = np.flatnonzero(~finite.reshape(n, -1).all(axis=1))
                raise DatasetError(f"{source}: '{key}' holds {int((~finite).sum())} non-finite values (NaN or inf) "
                                   f"in {bad_rows.size} rows, the first at row {int(bad_rows[0])}; drop or repair "
                                   "those steps")
    return out


# --------------------------------------------------------------------------------------------------- files
def open_hdf5(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """An HDF5 file open for reading and its name for messages; :class:`DatasetError` if it cannot be."""
    import h5py  # noqa: PLC0415 - only when a file is read

    file = Path(path).expanduser()
    source = str(file)
    if not file.is_file():
        raise DatasetError(f"{source}: no such file")
    try:
        return h5py.File(file, "r"), source
    except OSError as exc:
        raise DatasetError(f"{source}: not a readable HDF5 file ({exc})") from exc


def read_d4rl(path: str | os.PathLike[str], *, expected_obs_dim: int | None = None,
              expected_action_dim: int | None = None, expected_for: str | None = None) -> OfflineDataset:
    """Read and validate a D4RL-format HDF5 file (D4RL's own files, or those :func:`write_d4rl` writes).

    ``expected_obs_dim`` / ``expected_action_dim``: the sizes of the environment the data is for (e.g. a
    protocol's ``TaskSpec.state_dim``); ``expected_for`` names it in the error message.
    """
    import h5py  # noqa: PLC0415 - only when a file is read

    handle, source = open_hdf5(path)
    with handle:
        arrays: dict[str, Any] = {}
        for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
            if key in handle:
                item = handle[key]
                if not isinstance(item, h5py.Dataset):
                    raise DatasetError(f"{source}: '{key}' is a group; it must be an array ({_LAYOUT})")
                arrays[key] = item[()]
        present = [key for key in handle if key not in arrays]
        metadata = _read_metadata(handle.attrs)
        table = _read_group(handle[EPISODES_GROUP]) if isinstance(handle.get(EPISODES_GROUP), h5py.Group) else {}
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        found = ", ".join(sorted([*arrays, *present])) or "nothing"
        raise DatasetError(f"{source}: missing {' and '.join(repr(k) for k in missing)}. A D4RL-format file holds "
                           f"{_LAYOUT}; found: {found}")
    dataset = OfflineDataset.from_arrays(arrays, source=source, metadata=metadata)
    dataset.episode_table = table
    check_sizes(dataset.obs_dim, dataset.action_dim, source=source, expected_obs_dim=expected_obs_dim,
                expected_action_dim=expected_action_dim, expected_for=expected_for)
    return dataset


def write_d4rl(path: str | os.PathLike[str], dataset: OfflineDataset, *, metadata: Mapping[str, Any] | None = None,
               episode_table: Mapping[str, Any] | None = None, step_infos: Mapping[str, Any] | None = None,
               compression: str | None = "gzip") -> Path:
    """Write ``dataset`` as a D4RL-format HDF5 file, atomically (a partial file never has the final name).

    ``metadata`` (JSON-serializable) is stored whole, as JSON, in the root attribute ``vla_bench``, and its
    top-level scalars also as plain root attributes (visible to ``h5ls``/``h5dump``); ``episode_table`` as
    per-episode columns in ``episodes/*``; ``step_infos`` as per-step columns in ``infos/*``.
    """
    import h5py  # noqa: PLC0415

    dataset.validate()
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    n = len(dataset)
    meta = dict(metadata or {})
    try:
        with h5py.File(partial, "w") as handle:
            for key, array in dataset.arrays().items():
                handle.create_dataset(key, data=array, compression=compression)
            handle.attrs["format"] = "d4rl"
            handle.attrs[METADATA_ATTR] = json.dumps(_jsonable(meta), sort_keys=True, ensure_ascii=False)
            for key, value in meta.items():
                if isinstance(value, (str, bool, int, float)) and key not in ("format", METADATA_ATTR):
                    handle.attrs[key] = value
            if episode_table:
                _write_group(handle.create_group(EPISODES_GROUP), episode_table, rows=None)
            if step_infos:
                _write_group(handle.create_group(INFOS_GROUP), step_infos, rows=n)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _write_group(group: Any, columns: Mapping[str, Any], rows: int | None) -> None:
    import h5py  # noqa: PLC0415

    lengths = set()
    for name, values in columns.items():
        array = np.asarray(values)
        lengths.add(len(array))
        if array.dtype.kind in "UO":
            group.create_dataset(name, data=[str(v) for v in array.tolist()], dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=array)
    if len(lengths) > 1 or (rows is not None and lengths and lengths != {rows}):
        raise DatasetError(f"columns of '{group.name}' have different lengths {sorted(lengths)}")


def _read_group(group: Any) -> dict[str, NDArray[Any]]:
    import h5py  # noqa: PLC0415

    table: dict[str, NDArray[Any]] = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset):
            values = item[()]
            if item.dtype.kind in "OS":
                values = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values])
            table[name] = np.asarray(values)
    return table


def _read_metadata(attrs: Any) -> dict[str, Any]:
    metadata = {key: _plain(value) for key, value in attrs.items()}
    raw = metadata.get(METADATA_ATTR)
    if isinstance(raw, str):
        with contextlib.suppress(json.JSONDecodeError):  # not ours after all: keep the string
            metadata[METADATA_ATTR] = json.loads(raw)
    return metadata


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)
