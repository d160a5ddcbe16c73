"""``--agent lerobot:PATH_OR_REPO_ID``: a LeRobot ``PreTrainedPolicy`` evaluated from its own policy runtime.

The policy runs in the lerobot runtime's interpreter (Python 3.12, built by ``vla-bench setup lerobot``, or
adopted with ``--python``), started here as ``python -m vla_bench.agents.lerobot_serve TARGET``: it loads the
checkpoint with its pre/post processors and serves it on 127.0.0.1 over vla-bench's msgpack websocket wire
(:mod:`vla_bench.agents.remote`: no pickle, bounded frames, per-episode faults, reconnects). Each episode slot
gets its own connection, hence its own copy of the model and of LeRobot's action queue, and every episode
start resets it. The server lives as long as the agent: it exits when this process closes its stdin.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path
from typing import IO

from vla_bench.agents.gateway import as_int
from vla_bench.agents.policy import LoadedAgent
from vla_bench.agents.remote import RemotePolicy, RemoteSettings, parse_remote_spec
from vla_bench.spec.errors import UserError

RUNTIME = "lerobot"
START_TIMEOUT = 600.0  # seconds to import torch and load the checkpoint (a large VLA on a slow disk)


class PolicyProcess:
    """The runtime's policy server process; ``close()`` (or exit) ends it."""

    def __init__(self, python: str, target: str, env: dict[str, str], timeout: float = START_TIMEOUT) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="vla-bench-lerobot-")
        self.log = Path(self._dir.name) / "server.log"
        package = Path(self._dir.name) / "pythonpath"
        package.mkdir()
        (package / "vla_bench").symlink_to(Path(__file__).resolve().parents[1], target_is_directory=True)
        env = {**os.environ, **env, "PYTHONSAFEPATH": "1",
               "PYTHONPATH": os.pathsep.join(p for p in (str(package), env.get("PYTHONPATH", "")) if p)}
        env.setdefault("OMP_NUM_THREADS", "1")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([python, "-m", "vla_bench.agents.lerobot_serve", target],
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env)
        _LIVE.add(self)
        # ends the process once neither the agent nor any of its policies refers to this object any more
        self._finalizer = weakref.finalize(self, _stop, self.process, self._dir)
        self.reply = self._first_line(timeout)

    def _first_line(self, timeout: float) -> dict[str, object]:
        line: list[bytes] = []
        stdout: IO[bytes] = self.process.stdout  # type: ignore[assignment]
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not line or not line[0].strip():
            self.close()
            why = f"did not start within {timeout:g} s" if not line else "exited"
            raise UserError(f"the LeRobot policy server {why}: {self.tail()}")
        try:
            reply: dict[str, object] = json.loads(line[0])
        except ValueError:
            self.close()
            raise UserError(f"the LeRobot policy server answered {line[0][:200]!r}: {self.tail()}") from None
        if "error" in reply:
            self.close()
            raise UserError(str(reply["error"]))
        return reply

    def tail(self, lines: int = 6) -> str:
        with contextlib.suppress(OSError):
            kept = [s for s in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
            return " | ".join(kept[-lines:]) or "(no output)"
        return "(no output)"

    def close(self) -> None:
        _LIVE.discard(self)
        self._finalizer()


def _stop(process: subprocess.Popen[bytes], folder: tempfile.TemporaryDirectory[str]) -> None:
    with contextlib.suppress(Exception):
        if process.stdin is not None:
            process.stdin.close()  # the server's cue to stop
        process.wait(timeout=10)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
    with contextlib.suppress(Exception):
        folder.cleanup()


class LeRobotRemotePolicy(RemotePolicy):
    """A slot's connection to the policy server; holding it keeps the server running."""

    def __init__(self, settings: RemoteSettings, server: PolicyProcess) -> None:
        super().__init__(settings)
        self.server = server


_LIVE: weakref.WeakSet[PolicyProcess] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for process in list(_LIVE):
        process.close()


def _target(spec: str) -> str:
    target = spec.removeprefix("lerobot:").strip()
    if not target:
        raise UserError("--agent lerobot:PATH needs a checkpoint folder (or a hub repo id ORG/NAME)")
    path = Path(target).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UserError(f"{spec}: {path} has no config.json; give the folder a LeRobot policy was saved to "
                            "(policy.save_pretrained), e.g. outputs/train/.../checkpoints/last/pretrained_model")
        return str(path.absolute())
    if target.count("/") != 1 or target.startswith((".", "/", "~")):
        raise UserError(f"{spec}: no such folder (a Hugging Face Hub id looks like ORG/NAME)")
    return target  # a hub id: the runtime fetches it (or says how to, offline)


def load_lerobot(spec: str, *, timeout: float = START_TIMEOUT) -> LoadedAgent:
    from vla_bench.runtimes.resolve import require  # noqa: PLC0415

    target = _target(spec)
    resolution = require(RUNTIME)
    server = PolicyProcess(resolution.python, target, resolution.worker_env(), timeout)
    given = server.reply.get("agent")
    identity: dict[str, object] = given if isinstance(given, dict) else {}
    settings = parse_remote_spec(f"ws://127.0.0.1:{as_int(server.reply['port'])}?timeout=300")

    def factory() -> LeRobotRemotePolicy:
        return LeRobotRemotePolicy(settings, server)

    served = identity.get("details")
    sha = identity.get("sha256")
    details = {**(served if isinstance(served, dict) else {}), "checkpoint": target,
               "runtime_python": resolution.python}
    agent = LoadedAgent(spec=spec, kind="lerobot", factory=factory, name=spec,
                        sha256=sha if isinstance(sha, str) else None, details=details)
    return agent
