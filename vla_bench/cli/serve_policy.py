"""``vla-bench serve-policy AGENT``: serve an agent on openpi's wire (default) or vla-eval's (``--wire vla-eval``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vla_bench.agents.keymaps import PRESETS, VLAEVAL_PRESETS, key_map, parse_key_map
from vla_bench.agents.serve_wire import MAX_MESSAGE, ProtocolViolation, task_spec_from_json
from vla_bench.spec import TaskSpec
from vla_bench.spec.errors import UserError

WIRES = ("openpi", "vla-eval")


def read_task_spec(text: str) -> TaskSpec:
    """``--task-spec``: a JSON object, or a file holding one (``@path`` or ``path``)."""
    source = text
    if not text.lstrip().startswith("{"):
        path = Path(text.removeprefix("@")).expanduser()
        if not path.is_file():
            raise UserError(f"--task-spec {text!r}: neither a JSON object nor an existing file")
        source = path.read_text(encoding="utf-8")
    try:
        return task_spec_from_json(json.loads(source))
    except (ValueError, ProtocolViolation) as exc:
        raise UserError(f"--task-spec: {exc}. Expected e.g. {{\"name\": \"t\", \"instruction\": \"\", "
                        "\"action_low\": [-1, -1], \"action_high\": [1, 1], \"max_steps\": 100, "
                        "\"observation_mode\": \"state\"}") from None


def serve_policy(
    agent: Annotated[str, typer.Argument(help="baseline:NAME, model.onnx, model.pt, or package.module:factory")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0 for every interface)")] = "127.0.0.1",
    wire: Annotated[str, typer.Option(help="protocol: openpi (openpi clients, --agent ws://) or vla-eval "
                                           "(vla-eval's harness, --agent vlaeval://)")] = "openpi",
    keys: Annotated[str | None, typer.Option(help=f"observation key preset of the clients: {', '.join(PRESETS)} "
                                                  f"(openpi wire; default vla-bench) or {', '.join(VLAEVAL_PRESETS)} "
                                                  "(vla-eval wire; default vla-eval)")] = None,
    key_mapping: Annotated[str | None, typer.Option("--map", help="explicit mapping SRC:DST,... instead of "
                                                                   "--keys (see --agent ws:// docs)")] = None,
    task_spec: Annotated[str | None, typer.Option(help="TaskSpec JSON (or a file) to reset the policy with "
                                                       "for clients that send none (openpi, vla-eval)")] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="most observations per act_batch call")] = 64,
    batch_wait_ms: Annotated[float, typer.Option(min=0.0, help="linger this long for a fuller batch")] = 0.0,
    max_message_mb: Annotated[float, typer.Option(min=0.001, help="largest request frame accepted; a larger one "
                                                                  "closes its connection")] = MAX_MESSAGE / (1 << 20),
    api_key: Annotated[str | None, typer.Option(envvar="VLA_BENCH_POLICY_API_KEY", help="require the header "
                                                "'Authorization: Api-Key KEY'")] = None,
) -> None:
    """Serve an agent over openpi's or vla-eval's websocket protocol."""
    from rich.console import Console  # noqa: PLC0415

    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415

    if wire not in WIRES:
        raise UserError(f"--wire {wire!r}: expected one of {', '.join(WIRES)}")
    if agent.startswith(("ws://", "wss://", "vlaeval://")):
        raise UserError("serve-policy serves a local agent; a remote agent is already served")
    if keys is not None and key_mapping is not None:
        raise UserError("give --keys or --map, not both")
    vla_eval = wire == "vla-eval"
    presets = VLAEVAL_PRESETS if vla_eval else PRESETS
    mapping = (parse_key_map(key_mapping, nested=vla_eval) if key_mapping
               else key_map(keys or ("vla-eval" if vla_eval else "vla-bench"), presets))
    default_task = read_task_spec(task_spec) if task_spec else None
    from vla_bench.agents.serving import PolicyServer  # noqa: PLC0415 - asyncio: not for every vla-bench command

    server_class: type[PolicyServer] = PolicyServer
    if vla_eval:
        from vla_bench.agents.vlaeval_server import VlaEvalPolicyServer  # noqa: PLC0415

        server_class = VlaEvalPolicyServer
    server = server_class(load_agent(agent), host=host, port=port, keys=mapping, default_task=default_task,
                          max_batch=max_batch, batch_wait=batch_wait_ms / 1e3, api_key=api_key,
                          max_message=int(max_message_mb * (1 << 20)))
    console = Console(stderr=True)

    def ready() -> None:
        mode = f"batched, up to {max_batch} per call" if server.batched else "one policy per connection"
        health = "/health" if vla_eval else "/healthz"
        console.print(f"serving {agent} on {server.url} ({wire} wire; {mode}; keys {mapping.name}); health: "
                      f"http://{host}:{server.port}{health}", highlight=False)

    try:
        import asyncio  # noqa: PLC0415

        asyncio.run(server.serve(ready))
    except KeyboardInterrupt:
        console.print("stopped")
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc}") from None


def register(app: typer.Typer) -> None:
    app.command("serve-policy")(serve_policy)
