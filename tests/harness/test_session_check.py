"""Every registered protocol's first episode keeps the session contract (benchmarks/check.py), on the real
simulators. One protocol of each family and observation mode, and one perturbed task of the fast robustness
protocols, run by default; the rest (slow simulators such as robosuite, and the many MetaWorld MT1 protocols) are
slow-marked. LIBERO and CALVIN run inside their own runtimes: there, ``python -m vla_bench.harness.session_check
PROTOCOL`` with the runtime's interpreter runs the same checks."""

from __future__ import annotations

import pytest

from vla_bench import protocols
from vla_bench.benchmarks import RUNTIMES
from vla_bench.harness.session_check import check_protocol, main

DEFAULT = ("mujoco/hopper@v1", "mujoco/hopper-pixels@v1", "d4rl/kitchen-complete@v1", "d4rl/door-human@v1",
           "d4rl/antmaze-umaze@v1", "d4rl/maze2d-umaze@v1", "metaworld/mt10@v1", "metaworld/mt10-pixels@v1",
           "pandapickcube/state@v1", "pandapickcube/vision@v1", "kitchen/chain5@v1")
ROBUST = ("mujoco/locomotion-robust@v1", "metaworld/mt10-robust@v1")
STEPS = 4  # of each determinism rollout in the default run (the command's default is 10)
IN_RUNTIMES = set(RUNTIMES)


def _others() -> list[str]:
    return [pid for bench in protocols.benchmark_names() if bench not in IN_RUNTIMES
            for pid in protocols.protocol_ids(bench) if pid not in DEFAULT and pid not in ROBUST]


@pytest.mark.parametrize("protocol_id", DEFAULT)
def test_the_first_episode_of_each_family_keeps_the_session_contract(protocol_id: str) -> None:
    check = check_protocol(protocols.get_protocol(protocol_id), steps=STEPS)
    assert check.ok, "\n".join(check.lines())


@pytest.mark.parametrize("protocol_id", ROBUST)
def test_a_perturbed_task_keeps_the_session_contract(protocol_id: str) -> None:
    protocol = protocols.get_protocol(protocol_id)
    last = protocol.tasks[-1]  # the last axis's strongest level
    assert last.perturbation is not None
    check = check_protocol(protocol, last.name, steps=STEPS)
    assert check.ok, "\n".join(check.lines())


@pytest.mark.slow  # ~150 protocols; robosuite's take 10-30 s each here
@pytest.mark.parametrize("protocol_id", _others())
def test_every_other_protocol_keeps_the_session_contract(protocol_id: str) -> None:
    check = check_protocol(protocols.get_protocol(protocol_id))
    assert check.ok, "\n".join(check.lines())


def test_the_command_prints_the_findings_and_exits_by_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mujoco/hopper@v1", "--steps", "3"]) == 0
    assert capsys.readouterr().out == "mujoco/hopper@v1 / hopper: ok\n"
