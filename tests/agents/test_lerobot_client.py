"""``--agent lerobot:...`` without the runtime: clear errors for bad targets and a missing runtime, and the
server process's one-line reply protocol (run here in this interpreter)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from vla_bench.agents import load_agent
from vla_bench.agents.lerobot_client import _LIVE, PolicyProcess
from vla_bench.spec.errors import UserError


def test_targets_are_checked_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="needs a checkpoint folder"):
        load_agent("lerobot:")
    with pytest.raises(UserError, match=r"has no config\.json"):
        load_agent(f"lerobot:{tmp_path}")
    with pytest.raises(UserError, match=r"no such folder \(a Hugging Face Hub id looks like ORG/NAME\)"):
        load_agent(f"lerobot:{tmp_path / 'missing' / 'deeper'}")


def test_a_missing_runtime_names_the_setup_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_BENCH_RUNTIMES_DIR", str(tmp_path / "runtimes"))
    monkeypatch.setenv("VLA_BENCH_CONFIG_DIR", str(tmp_path / "config"))
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    with pytest.raises(UserError, match=r"runtime 'lerobot'.*`vla-bench setup lerobot`"):
        load_agent(f"lerobot:{tmp_path / 'ckpt'}")


def test_the_server_reports_a_bad_checkpoint_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"type": "act"}))
    with pytest.raises(UserError, match=r"has no model\.safetensors"):
        PolicyProcess(sys.executable, str(tmp_path), {}, timeout=120)
    assert not list(_LIVE)  # the failed server was reaped


def test_processor_steps_that_import_classes_are_refused(tmp_path: Path) -> None:
    from vla_bench.agents.lerobot_policy import check_checkpoint

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    (tmp_path / "policy_preprocessor.json").write_text(json.dumps({"steps": [{"class": "os.system"}]}))
    (tmp_path / "policy_postprocessor.json").write_text(json.dumps({"steps": []}))
    with pytest.raises(UserError, match="steps that name a class to import are refused"):
        check_checkpoint(tmp_path)

