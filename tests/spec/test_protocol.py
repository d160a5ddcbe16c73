"""Protocols are data with a stable hash; published versions never change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vla_bench.protocols import get_protocol, load_protocol, protocol_ids
from vla_bench.spec import Protocol
from vla_bench.spec.errors import UserError

PUBLISHED = Path(__file__).with_name("published_protocols.json")


def _minimal(**overrides: object) -> dict:
    data: dict = {
        "id": "demo/suite@v1", "description": "d", "adapter": "mujoco", "episodes_per_task": 2, "max_steps": 10,
        "observation": {"mode": "state"}, "success": {"kind": "none"}, "primary_metric": "mean_return",
        "tasks": [{"name": "t", "env_id": "Hopper-v5"}],
    }
    data.update(overrides)
    return data


def test_hash_is_canonical_json_independent_of_key_order() -> None:
    a = Protocol.model_validate(_minimal())
    b = Protocol.model_validate(dict(reversed(list(_minimal().items()))))
    assert a.sha256() == b.sha256()
    assert a.canonical_json() == json.dumps(json.loads(a.canonical_json()), sort_keys=True, separators=(",", ":"))
    changed = Protocol.model_validate(_minimal(max_steps=11))
    assert changed.sha256() != a.sha256()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"id": "Hopper"}, "not of the form 'benchmark/suite@vN'"),
        ({"primary_metric": "normalized_score"}, "needs normalization constants"),
        ({"primary_metric": "success_rate"}, "needs a success rule"),
        ({"observation": {"mode": "pixels"}}, "needs cameras"),
        ({"tasks": [{"name": "t", "env_id": "x"}, {"name": "t", "env_id": "y"}]}, "duplicate task names"),
        ({"episodes_per_task": 0}, "greater than 0"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_protocols_are_refused_with_the_reason(override: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Protocol.model_validate(_minimal(**override))


def test_unknown_protocol_suggests_the_closest_ids() -> None:
    with pytest.raises(UserError, match=r"Did you mean 'mujoco/hopper@v1'"):
        get_protocol("mujoco/hoper@v1")


def test_every_shipped_protocol_loads_and_names_its_sources() -> None:
    ids = protocol_ids()
    assert "mujoco/hopper@v1" in ids
    for protocol_id in ids:
        protocol = get_protocol(protocol_id)
        assert protocol.id == protocol_id
        for task in protocol.tasks:
            if task.normalization is not None:
                assert task.normalization.source


def test_published_protocols_are_never_edited() -> None:
    """A protocol version, once published, keeps its hash forever: change it by adding @v(N+1)."""
    published: dict[str, str] = json.loads(PUBLISHED.read_text())
    current = {protocol_id: get_protocol(protocol_id).sha256() for protocol_id in protocol_ids()}
    edited = sorted(pid for pid, digest in published.items() if current.get(pid) != digest)
    assert not edited, f"published protocols changed or removed: {edited}; publish a new version instead"
    unpublished = sorted(set(current) - set(published))
    assert not unpublished, (
        f"new protocols {unpublished}: add their sha256 to {PUBLISHED.name} when they are final "
        f"(python -c \"from vla_bench.protocols import get_protocol as g; print(g('ID').sha256())\")"
    )


def test_a_protocol_file_path_is_accepted_for_development(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('id = "demo/x@v1"\ndescription = "d"\nadapter = "mujoco"\nepisodes_per_task = 1\n'
                    'max_steps = 5\nprimary_metric = "mean_return"\n[observation]\nmode = "state"\n'
                    '[success]\nkind = "none"\n[[tasks]]\nname = "t"\nenv_id = "Hopper-v5"\n')
    assert load_protocol(str(path)).id == "demo/x@v1"
    path.write_text("id = 3")
    with pytest.raises(UserError, match="is invalid"):
        load_protocol(str(path))
