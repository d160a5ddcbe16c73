"""Turn an ``--agent`` string into a :class:`LoadedAgent`.

Accepted forms: ``baseline:NAME``, ``path/to/model.onnx``, ``path/to/model.pt`` (TorchScript), and
``pkg.module:factory`` (a callable returning a policy, imported from the user's own code; the current
directory is importable, as with ``python -m``). Gateways to policies served elsewhere: ``ws://HOST:PORT``
(openpi's wire), ``vlaeval://HOST:PORT`` (a vla-eval model server) and ``lerobot:PATH`` (a LeRobot policy in
its own runtime).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vla_bench.agents.baselines import load_baseline
from vla_bench.agents.digest import file_sha256
from vla_bench.agents.policy import LoadedAgent, Policy
from vla_bench.spec.errors import UserError, describe_exception
from vla_bench.spec.registry import import_target, split_target


def load_agent(spec: str) -> LoadedAgent:
    if spec.startswith("baseline:"):
        return load_baseline(spec.removeprefix("baseline:"))
    if spec.startswith(("ws://", "wss://")):
        from vla_bench.agents.remote import load_remote  # noqa: PLC0415 - websockets only when used

        return load_remote(spec)
    if spec.startswith("vlaeval://"):
        from vla_bench.agents.vlaeval_client import load_vlaeval  # noqa: PLC0415 - a vla-eval model server

        return load_vlaeval(spec)
    if spec.startswith("lerobot:"):
        from vla_bench.agents.lerobot_client import load_lerobot  # noqa: PLC0415 - in the lerobot runtime

        return load_lerobot(spec)
    lowered = spec.lower()
    if lowered.endswith((".onnx", ".pt", ".pth")):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UserError(f"agent file {spec!r} does not exist")
        if lowered.endswith(".onnx"):
            from vla_bench.agents.exported import is_exported, load_exported  # noqa: PLC0415
            from vla_bench.agents.onnx_policy import load_onnx  # noqa: PLC0415 - onnxruntime only when used

            if is_exported(path.parent):  # written by `vla-bench train`: checked against it, maybe conditioned
                exported = load_exported(path)
                exported.spec = str(path)
                return exported
            return load_onnx(path, file_sha256(path))
        from vla_bench.agents.torchscript_policy import load_torchscript  # noqa: PLC0415 - torch only when used

        return load_torchscript(path, file_sha256(path))
    if ":" in spec:
        return _load_python_factory(spec)
    raise UserError(
        f"cannot tell what kind of agent {spec!r} is. Use 'baseline:NAME', a '.onnx' or '.pt' file, "
        "or 'package.module:factory' (see `vla-bench list`)"
    )


def _load_python_factory(spec: str) -> LoadedAgent:
    try:
        module_name, attr = split_target(spec)
    except ValueError:
        raise UserError(f"agent {spec!r} must be of the form 'package.module:factory'") from None
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:  # one line naming the file and line, not importlib's traceback
        raise UserError(f"the agent's module {module_name!r} has a syntax error at {exc.filename}:{exc.lineno}: "
                        f"{exc.msg}") from exc
    except ImportError as exc:
        raise UserError(f"cannot import the agent's module {module_name!r}: {exc}") from exc
    except Exception as exc:  # the user's module-level code failed: say where, in one line
        raise UserError(f"importing the agent's module {module_name!r} failed: {describe_exception(exc)}") from exc
    target: object = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UserError(f"module {module_name!r} has no attribute {attr!r} (from agent {spec!r})")
        target = getattr(target, part)
    if isinstance(target, Policy) and not isinstance(target, type):
        instance = target
        return LoadedAgent(spec=spec, kind="python", factory=lambda: instance, name=spec, shared=True)
    if not callable(target):
        raise UserError(f"agent {spec!r} is neither a policy nor a callable that returns one")
    factory = target
    _check_takes_no_arguments(factory, spec)

    def make() -> Policy:
        policy = factory()
        if not isinstance(policy, Policy):
            raise UserError(f"agent factory {spec!r} returned {type(policy).__name__}, which has no reset/act")
        return policy

    source = getattr(module, "__file__", None)
    sha = file_sha256(Path(source)) if source and Path(source).is_file() else None
    return LoadedAgent(spec=spec, kind="python", factory=make, name=spec, sha256=sha)


def _check_takes_no_arguments(factory: Callable[..., object], spec: str) -> None:
    """A factory is called with no arguments: say so now, not as a TypeError in every episode."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins and some C callables have none to check
        return
    try:
        signature.bind()
    except TypeError:
        code = getattr(factory, "__code__", None)
        where = f" ({code.co_filename}:{code.co_firstlineno})" if code is not None else ""
        raise UserError(f"agent factory {spec!r}{where} must be callable with no arguments; its signature is "
                        f"{signature}") from None


def agent_from_object(policy: object, name: str | None = None) -> LoadedAgent:
    """Wrap a Python policy object or factory given to the ``evaluate`` API."""
    if isinstance(policy, LoadedAgent):
        return policy
    label = name or f"{type(policy).__module__}.{type(policy).__qualname__}"
    if isinstance(policy, Policy) and not isinstance(policy, type):
        instance = policy
        return LoadedAgent(spec=label, kind="object", factory=lambda: instance, name=label, shared=True)
    if callable(policy):
        factory = policy
        return LoadedAgent(spec=name or str(getattr(policy, "__qualname__", label)), kind="object", factory=factory)
    raise UserError(f"{label} is not a policy (needs reset(task) and act(observation)) nor a factory of one")


# A factory (function or class) with this attribute set to True declares that building it in every env worker
# process is safe (no shared state, no GPU to share): the harness may then run it beside the environments.
PER_PROCESS = "vla_bench_per_process"
_REBUILDABLE = ("baseline", "onnx", "torchscript")  # `--agent` strings any process can load again, same result


def worker_spec(agent: LoadedAgent, *, declared_only: bool = True) -> str | None:
    """The ``--agent`` string an env worker can build this agent from itself, or None when it must stay here.

    Artifacts (ONNX, TorchScript, exported trainings, baselines) always can; a Python factory can when it is
    importable by name and declares :data:`PER_PROCESS` (or, with ``declared_only=False``, when the user asked
    for worker placement explicitly). Shared objects and remote (``ws://``) policies never can."""
    if agent.kind in _REBUILDABLE:  # shared or not: the same file or code gives the same policy anywhere
        return agent.spec
    if agent.shared:
        return None
    if agent.kind == "python":
        target = _factory_target(agent.spec)
    elif agent.kind == "object":
        factory = agent.factory
        module, name = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
        if not module or not name or "<" in name or module == "__main__":  # lambdas, locals, scripts
            return None
        spec = f"{module}:{name}"
        target = _factory_target(spec)
        if target is not factory:
            return None
        agent_spec = spec
    else:
        return None
    if target is None or (declared_only and getattr(target, PER_PROCESS, False) is not True):
        return None
    return agent.spec if agent.kind == "python" else agent_spec


def _factory_target(spec: str) -> object | None:
    try:
        return import_target(spec)
    except (ImportError, AttributeError, ValueError):  # not importable by name: the factory stays here
        return None
