"""Verification settings: where artifacts go, the sample secret, per-protocol guarantees, endpoint keys; and
the API server never loads a simulator (only the worker does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vla_bench.server.core.config import Settings
from vla_bench.server.verification.config import (
    artifacts_root,
    decrypt_key,
    encrypt_key,
    sample_secret,
    sampling_policy,
)


def test_artifacts_live_beside_a_sqlite_database_unless_configured(tmp_path: Path) -> None:
    assert artifacts_root(Settings(database_url=f"sqlite:///{tmp_path}/db.sqlite3")) == tmp_path / "artifacts"
    assert artifacts_root(Settings(database_url="sqlite:///x.db", artifacts_dir=tmp_path / "a")) == tmp_path / "a"


def test_the_sample_secret_is_derived_from_the_server_secret_unless_set() -> None:
    one, two = Settings(secret_key="a" * 20), Settings(secret_key="b" * 20)
    assert sample_secret(one) != sample_secret(two) and b"a" * 20 not in sample_secret(one)
    assert sample_secret(Settings(verification_secret="fixed")) == b"fixed"


def test_a_protocol_can_trade_its_guarantee_for_cost() -> None:
    settings = Settings(verify_protocols={"metaworld/mt50@v1": {"fraction": 0.2, "power": 0.9, "max_episodes": 20}})
    assert sampling_policy(settings, "metaworld/mt50@v1").max_episodes == 20
    default = sampling_policy(settings, "mujoco/hopper@v1")
    assert (default.fraction, default.power, default.max_episodes) == (0.1, 0.95, None)


def test_endpoint_keys_are_encrypted_and_need_the_same_server_secret() -> None:
    settings = Settings(secret_key="s" * 20)
    stored = encrypt_key(settings, "my-api-key")
    assert "my-api-key" not in stored and decrypt_key(settings, stored) == "my-api-key"
    with pytest.raises(ValueError, match="SECRET_KEY"):
        decrypt_key(Settings(secret_key="t" * 20), stored)


def test_the_api_server_imports_no_simulator_and_not_the_worker() -> None:
    code = ("import sys, vla_bench.server.main, vla_bench.server.api.routes.verification; "
            "print(sorted(m for m in ('mujoco', 'gymnasium', 'metaworld', 'onnxruntime', "
            "'vla_bench.harness.local_executor', 'vla_bench.server.verification.rerun') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
