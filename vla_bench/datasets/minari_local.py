"""Minari datasets already on this machine, read into the D4RL layout. Nothing is ever downloaded.

A Minari dataset (minari 0.5 storage) is a directory ``<root>/<namespace>/<name>-v<N>/data`` holding
``metadata.json`` and the episodes (``main_data.hdf5``, or Arrow files); each episode stores ``T + 1``
observations (the reset observation, then one per step) and ``T`` actions, rewards, terminations and
truncations. It is read with minari's own API (``minari.MinariDataset``) and converted episode by episode:
``observations = obs[:-1]``, ``next_observations = obs[1:]``, ``terminals = terminations``,
``timeouts = truncations``, episodes concatenated in their stored order. An episode whose last step is
neither terminated nor truncated (allowed by Minari) gets ``timeouts`` set there, so that episode
boundaries survive the concatenation. Dict observations are flattened by :func:`flatten_observation`.
"""

from __future__ import annotations

import os
from collections.abc import Sized
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vla_bench.datasets.d4rl_format import OfflineDataset
from vla_bench.datasets.observations import flatten_observation
from vla_bench.datasets.validation import DatasetError, check_sizes

METADATA_FILE = "metadata.json"


def minari_root() -> Path:
    """Where Minari keeps local datasets: ``MINARI_DATASETS_PATH``, else ``~/.minari/datasets``."""
    configured = os.environ.get("MINARI_DATASETS_PATH")
    return Path(configured).expanduser() if configured else Path.home() / ".minari" / "datasets"


def minari_dataset_path(source: str | os.PathLike[str]) -> Path:
    """The ``data`` directory of a local Minari dataset given by path (the dataset directory, its ``data``
    directory or a file in it) or by dataset id (``namespace/name-vN``, looked up under :func:`minari_root`)."""
    path = Path(source).expanduser()
    if path.exists():
        candidates = [path.parent] if path.is_file() else [path / "data", path]
        for candidate in candidates:
            if (candidate / METADATA_FILE).is_file():
                return candidate
        raise DatasetError(f"{path}: not a Minari dataset (no {METADATA_FILE} in it or in its 'data' directory)")
    root = minari_root()
    data = root / str(source) / "data"
    if (data / METADATA_FILE).is_file():
        return data
    raise DatasetError(
        f"Minari dataset {str(source)!r} not found: no such path, and no {data / METADATA_FILE} (datasets are "
        f"looked up under MINARI_DATASETS_PATH, else ~/.minari/datasets; vla-bench never downloads one - copy it "
        "there or pass its directory)")


def read_minari(source: str | os.PathLike[str], *, expected_obs_dim: int | None = None,
                expected_action_dim: int | None = None, expected_for: str | None = None) -> OfflineDataset:
    """Read a local Minari dataset into an :class:`OfflineDataset` (with ``next_observations``), validated."""
    data_path = minari_dataset_path(source)
    label = f"Minari dataset {data_path.parent}"
    try:
        from minari import MinariDataset  # noqa: PLC0415 - heavy; only when a Minari dataset is read

        dataset = MinariDataset(data_path)
        metadata = dict(dataset.storage.metadata)
        episodes = list(dataset.iterate_episodes())
    except DatasetError:
        raise
    except Exception as exc:  # minari raises ValueError, KeyError, OSError, AssertionError... for broken data
        raise DatasetError(f"{label}: minari cannot read it: {type(exc).__name__}: {exc}") from exc
    if not episodes:
        raise DatasetError(f"{label}: the dataset holds no episodes")

    columns: dict[str, list[NDArray[np.generic]]] = {
        k: [] for k in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts")}
    for episode in episodes:
        steps = len(episode.rewards)
        where = f"{label}, episode {episode.id}"
        if isinstance(episode.actions, dict | tuple):
            raise DatasetError(f"{where}: actions are a {type(episode.actions).__name__}; only flat continuous "
                               "(Box) actions can be read into the D4RL layout")
        rows = _leading_lengths(episode.observations)
        if rows != {steps + 1}:
            raise DatasetError(f"{where}: length mismatch: {'/'.join(map(str, sorted(rows)))} observations for "
                               f"{steps} steps (Minari stores one more observation than steps)")
        try:
            observations = flatten_observation(episode.observations, steps=steps + 1)
        except ValueError as exc:
            raise DatasetError(f"{where}: {exc}") from exc
        terminals = np.asarray(episode.terminations, dtype=bool)
        timeouts = np.asarray(episode.truncations, dtype=bool).copy()
        if steps and not (terminals[-1] or timeouts[-1]):
            timeouts[-1] = True  # keep the episode boundary (see the module docstring)
        columns["observations"].append(observations[:-1])
        columns["next_observations"].append(observations[1:])
        columns["actions"].append(np.asarray(episode.actions, dtype=np.float32).reshape(steps, -1))
        columns["rewards"].append(np.asarray(episode.rewards, dtype=np.float32).reshape(steps))
        columns["terminals"].append(terminals)
        columns["timeouts"].append(timeouts)
    arrays = {key: np.concatenate(parts) for key, parts in columns.items()}
    keep = ("dataset_id", "env_spec", "eval_env_spec", "ref_min_score", "ref_max_score", "total_episodes",
            "total_steps", "minari_version", "algorithm_name", "data_format")
    result = OfflineDataset.from_arrays(arrays, source=label,
                                        metadata={"minari": {k: metadata[k] for k in keep if k in metadata}})
    check_sizes(result.obs_dim, result.action_dim, source=label, expected_obs_dim=expected_obs_dim,
                expected_action_dim=expected_action_dim, expected_for=expected_for)
    return result


def _leading_lengths(observations: Sized) -> set[int]:
    if isinstance(observations, dict):
        return {n for value in observations.values() for n in _leading_lengths(value)}
    return {len(observations)}
