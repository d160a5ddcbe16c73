"""vla-eval's own model-server machinery (the installed ``vla_eval`` package) serving a vla-bench test policy.

Used only by tests: ``PolicyModelServer`` is a ``PredictModelServer`` (vla-eval's base class for blocking
inference) whose ``predict`` calls one policy per session; ``serving(server)`` runs vla-eval's own
``serve_async`` on a background thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import anyio
from vla_eval.model_servers.base import SessionContext
from vla_eval.model_servers.predict import PredictModelServer
from vla_eval.model_servers.serve import serve_async

from vla_bench.spec import TaskSpec


class PolicyModelServer(PredictModelServer):
    """One vla-bench policy per vla-eval session, reset from the ``task_spec`` of ``episode_start``."""

    def __init__(self, factory: Callable[[], Any], **options: Any) -> None:
        super().__init__(**options)
        self.factory = factory
        self.policies: dict[str, Any] = {}
        self.episode_starts: list[dict[str, Any]] = []
        self.observation_keys: list[list[str]] = []

    def get_action_spec(self) -> dict[str, Any]:
        return {}

    def get_observation_spec(self) -> dict[str, Any]:
        return {}

    async def on_episode_start(self, config: dict[str, Any], ctx: SessionContext) -> None:
        await super().on_episode_start(config, ctx)
        self.episode_starts.append(config)
        policy = self.policies.setdefault(ctx.session_id, self.factory())
        policy.reset(TaskSpec.from_json(config["task_spec"]))

    def predict(self, obs: dict[str, Any], ctx: SessionContext) -> dict[str, Any]:
        self.observation_keys.append(sorted(obs))
        observation: dict[str, Any] = {"state": obs["state"]}
        if "task_description" in obs:
            observation["instruction"] = obs["task_description"]
        if "images" in obs:
            observation["images"] = obs["images"]
        return {"actions": self.policies[ctx.session_id].act(observation)}


@contextmanager
def serving(model_server: Any) -> Iterator[int]:
    """Run vla-eval's ``serve_async`` for ``model_server`` on a free port until the block ends."""
    stop = threading.Event()
    ready = threading.Event()
    port: list[int] = []
    failure: list[BaseException] = []

    async def main() -> None:
        async with anyio.create_task_group() as group:
            port.append(await group.start(partial(serve_async, model_server, "127.0.0.1", 0)))
            ready.set()
            while not stop.is_set():
                await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(30) or failure:
        raise RuntimeError(f"vla-eval server did not start: {failure}")
    try:
        yield port[0]
    finally:
        stop.set()
        thread.join(10)
