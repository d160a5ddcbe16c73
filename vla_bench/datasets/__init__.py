"""Offline datasets: D4RL-format HDF5 files and local Minari datasets, read into one in-memory form.

Imports only ``vla_bench.spec`` (besides numpy, h5py and - for Minari datasets, lazily - minari), so the
reference trainers and any other part can use it without pulling in the harness or a simulator.

- :func:`read_d4rl` / :func:`write_d4rl`: D4RL's flat layout (``observations``, ``actions``, ``rewards``,
  ``terminals``, ``timeouts``, optional ``next_observations``), with metadata attributes.
- :func:`read_minari`: a Minari dataset already on this machine, by path or by id under
  ``MINARI_DATASETS_PATH`` (never downloaded).
- :class:`OfflineDataset`: the arrays, :meth:`OfflineDataset.episodes` (split on ``terminals | timeouts``)
  and :func:`qlearning_dataset` (D4RL's ``qlearning_dataset`` transitions).

Every reader validates what it read and raises :class:`DatasetError` naming what is wrong: a missing key,
arrays of different lengths, non-finite values, or an observation / action size that does not match the
environment the data is meant for (pass ``expected_obs_dim`` / ``expected_action_dim``).
"""

from vla_bench.datasets.d4rl_format import Episode, OfflineDataset, Transitions, qlearning_dataset
from vla_bench.datasets.d4rl_hdf5 import read_d4rl, write_d4rl
from vla_bench.datasets.minari_local import minari_dataset_path, read_minari
from vla_bench.datasets.observations import GOAL_DICT_ORDER, flatten_observation
from vla_bench.datasets.validation import REQUIRED_KEYS, DatasetError

__all__ = [
    "GOAL_DICT_ORDER",
    "REQUIRED_KEYS",
    "DatasetError",
    "Episode",
    "OfflineDataset",
    "Transitions",
    "flatten_observation",
    "minari_dataset_path",
    "qlearning_dataset",
    "read_d4rl",
    "read_minari",
    "write_d4rl",
]
