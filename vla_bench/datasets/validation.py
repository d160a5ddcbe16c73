"""What a D4RL-format dataset must hold, checked: the required and optional arrays, their shapes, lengths,
dtypes, 0/1 flags and finiteness (:func:`checked_arrays`), and sizes against the environment the data is for
(:func:`check_sizes`). Every problem is a :class:`DatasetError` that names the source, the problem and the fix."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from vla_bench.spec.errors import UserError

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
OPTIONAL_KEYS = ("timeouts", "next_observations")
LAYOUT = ("'observations' [N, obs_dim], 'actions' [N, action_dim], 'rewards' [N], 'terminals' [N] and, "
           "usually, 'timeouts' [N] (optional: 'next_observations' [N, obs_dim])")


class DatasetError(UserError):
    """A dataset that cannot be used as it is: the message names the file, the problem and the fix."""



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


def checked_arrays(arrays: Mapping[str, ArrayLike | None], source: str) -> dict[str, NDArray[np.generic]]:
    """The arrays as numpy, 1-D columns squeezed, after every structural check; raises DatasetError."""
    missing = [key for key in REQUIRED_KEYS if key not in arrays or arrays[key] is None]
    if missing:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DatasetError(f"{source}: missing {' and '.join(repr(k) for k in missing)}. A D4RL-format dataset "
                           f"holds {LAYOUT}; found: {found}")
    out: dict[str, NDArray[np.generic]] = {}
    for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
        value = arrays.get(key)
        if value is None:
            continue
        array = np.asarray(value)
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
