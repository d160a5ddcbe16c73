"""D4RL-format HDF5 files: :func:`read_d4rl` (D4RL's own files, or those :func:`write_d4rl` writes) and
:func:`write_d4rl` (atomic; metadata as JSON and plain attributes, per-episode and per-step columns in groups).
The layout is described in :mod:`vla_bench.datasets.d4rl_format`."""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.datasets.d4rl_format import OfflineDataset
from vla_bench.datasets.validation import LAYOUT, OPTIONAL_KEYS, REQUIRED_KEYS, DatasetError, check_sizes

if TYPE_CHECKING:
    import h5py

METADATA_ATTR = "vla_bench"  # root attribute holding the JSON metadata written by write_d4rl
EPISODES_GROUP = "episodes"
INFOS_GROUP = "infos"


def open_hdf5(path: str | os.PathLike[str]) -> tuple[h5py.File, str]:
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
        arrays: dict[str, NDArray[np.generic]] = {}
        for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
            if key in handle:
                item = handle[key]
                if not isinstance(item, h5py.Dataset):
                    raise DatasetError(f"{source}: '{key}' is a group; it must be an array ({LAYOUT})")
                arrays[key] = item[()]
        present = [key for key in handle if key not in arrays]
        metadata = _read_metadata(handle.attrs)
        table = _read_group(handle[EPISODES_GROUP]) if isinstance(handle.get(EPISODES_GROUP), h5py.Group) else {}
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        found = ", ".join(sorted([*arrays, *present])) or "nothing"
        raise DatasetError(f"{source}: missing {' and '.join(repr(k) for k in missing)}. A D4RL-format file holds "
                           f"{LAYOUT}; found: {found}")
    dataset = OfflineDataset.from_arrays(arrays, source=source, metadata=metadata)
    dataset.episode_table = table
    check_sizes(dataset.obs_dim, dataset.action_dim, source=source, expected_obs_dim=expected_obs_dim,
                expected_action_dim=expected_action_dim, expected_for=expected_for)
    return dataset


def write_d4rl(path: str | os.PathLike[str], dataset: OfflineDataset, *, metadata: Mapping[str, object] | None = None,
               episode_table: Mapping[str, ArrayLike] | None = None, step_infos: Mapping[str, ArrayLike] | None = None,
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


def _write_group(group: h5py.Group, columns: Mapping[str, ArrayLike], rows: int | None) -> None:
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


def _read_group(group: h5py.Group) -> dict[str, NDArray[np.generic]]:
    import h5py  # noqa: PLC0415

    table: dict[str, NDArray[np.generic]] = {}
    for name, item in group.items():
        if isinstance(item, h5py.Dataset):
            values = item[()]
            if item.dtype.kind in "OS":
                values = np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values])
            table[name] = np.asarray(values)
    return table


def _read_metadata(attrs: h5py.AttributeManager) -> dict[str, object]:
    metadata = {key: _plain(value) for key, value in attrs.items()}
    raw = metadata.get(METADATA_ATTR)
    if isinstance(raw, str):
        with contextlib.suppress(json.JSONDecodeError):  # not ours after all: keep the string
            metadata[METADATA_ATTR] = json.loads(raw)
    return metadata


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _jsonable(value: object) -> object:
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
