"""Where the policy runs: in each env worker (no message per step) or in the orchestrator (central).

Worker placement needs an agent every worker can build itself with the same result: an ONNX or TorchScript
file, an exported ``vla-bench train`` agent, a baseline, or a Python factory that declares itself safe per
process (``agents.loaders.PER_PROCESS``). Remote (``ws://``) policies, shared objects and other factories stay
central, batched over each lane. ``auto`` also keeps the policy central when the workers run in another
interpreter (a benchmark runtime: other package versions could compute other actions) or on Ray nodes.
"""

from __future__ import annotations

from vla_bench.agents.loaders import worker_spec
from vla_bench.agents.policy import LoadedAgent
from vla_bench.harness.executor_config import ExecutorConfig
from vla_bench.spec.errors import UserError
from vla_bench.spec.messages import AgentRef


def choose_placement(agent: LoadedAgent, config: ExecutorConfig, *, remote_workers: bool = False
                     ) -> tuple[str, AgentRef | None, str]:
    """(placement, what the workers load or None, why)."""
    requested = config.policy_placement
    if requested == "central":
        return "central", None, "requested"
    spec = worker_spec(agent, declared_only=requested == "auto")
    if requested == "worker":
        if spec is None:
            raise UserError(f"--policy-placement worker: agent {agent.spec!r} cannot be built inside an env worker "
                            "(remote ws:// agents, shared policy objects, lambdas and local functions stay central)")
        return "worker", _ref(spec, agent, config), "requested"
    if spec is None:
        return "central", None, f"{agent.kind} agent cannot be built per process"
    if config.isolated:
        return "central", None, "env workers run in another interpreter (a benchmark runtime)"
    if remote_workers:
        return "central", None, "env workers run on Ray nodes"
    return "worker", _ref(spec, agent, config), f"{agent.kind} agent built in each env worker"


def central_process_spec(agent: LoadedAgent) -> str | None:
    """The ``--agent`` string of a central policy to run in its own process (a ``package.module:factory`` that
    did not declare itself safe per process), or None to run it on a thread here (remote ``ws://`` agents wait on
    the network; artifacts are trusted data; objects handed to the API are the caller's own)."""
    return worker_spec(agent, declared_only=False) if agent.kind == "python" and not agent.shared else None


def _ref(spec: str, agent: LoadedAgent, config: ExecutorConfig) -> AgentRef:
    return AgentRef(spec=spec, sha256=agent.sha256, policy_timeout=config.policy_timeout,
                    action_noise=config.action_noise, collect=config.trajectory_sink is not None)
