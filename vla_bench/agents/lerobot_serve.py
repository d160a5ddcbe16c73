"""The lerobot runtime's policy server: ``python -m vla_bench.agents.lerobot_serve PATH_OR_REPO_ID``.

Started by ``--agent lerobot:...`` (:mod:`vla_bench.agents.lerobot_client`) in the lerobot runtime's
interpreter, with vla_bench on its ``PYTHONPATH``. It loads the checkpoint (a hub id through huggingface_hub
when the network allows), serves it with :class:`~vla_bench.agents.serving.PolicyServer` (openpi's msgpack
wire with vla-bench's episode messages: no pickle) on 127.0.0.1, writes one JSON line to stdout (``{"port":
..., "agent": {...}}`` or ``{"error": "..."}``) and serves until its stdin closes: the harness holds the other
end, so the server never outlives it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vla_bench.spec.errors import UserError


def resolve_checkpoint(target: str) -> Path:
    """A local folder as is; otherwise a Hugging Face Hub repo id, downloaded (or found in its cache)."""
    path = Path(target).expanduser()
    if path.exists():
        return path.absolute()
    if target.count("/") != 1 or target.startswith((".", "/", "~")):
        raise UserError(f"lerobot:{target}: no such folder (a hub id looks like ORG/NAME)")
    try:
        from huggingface_hub import snapshot_download  # noqa: PLC0415 - the runtime's
    except ImportError:
        raise UserError(f"lerobot:{target}: no such folder, and huggingface_hub is not installed to fetch it "
                        "as a hub id") from None
    try:
        return Path(snapshot_download(repo_id=target, repo_type="model"))
    except Exception as exc:  # noqa: BLE001 - offline, unknown repo, gated: one clear message
        raise UserError(
            f"lerobot:{target}: cannot fetch it from the Hugging Face Hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). On a machine with network access run "
            f"`huggingface-cli download {target} --local-dir DIR` (or snapshot_download), copy DIR here and pass "
            "--agent lerobot:DIR") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", help="a LeRobot checkpoint folder or hub repo id")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    reply, sys.stdout = sys.stdout, sys.stderr  # LeRobot prints while loading: keep stdout for the one reply line
    try:
        from vla_bench.agents.lerobot_policy import load_lerobot_policy  # noqa: PLC0415
        from vla_bench.agents.serving import PolicyServer  # noqa: PLC0415

        agent = load_lerobot_policy(resolve_checkpoint(args.target))
        server = PolicyServer(agent, host="127.0.0.1", port=args.port).start()
    except UserError as exc:
        print(json.dumps({"error": str(exc)}), file=reply, flush=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the harness in one line
        print(json.dumps({"error": f"loading the LeRobot policy failed: {type(exc).__name__}: {exc}"}),
              file=reply, flush=True)
        return 1
    print(json.dumps({"port": server.port, "agent": agent.identity()}), file=reply, flush=True)
    sys.stdin.read()  # until the harness closes its end (or dies)
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
