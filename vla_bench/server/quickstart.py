"""``vla-bench quickstart``: the whole loop on embedded defaults.

Evaluate a bundled agent, start the leaderboard on the default SQLite database, submit the bundle over
HTTP like any user would, and print the leaderboard's URL; the server then keeps running until Ctrl-C
(or stops at once with ``--exit``). The evaluation runs as a ``vla-bench eval`` subprocess: the server
package never imports the runner (DESIGN.md: the API server runs where no simulator is installed).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from vla_bench.server import crud
from vla_bench.server.bundle_io import SUMMARY_FILE, read_bundle_document
from vla_bench.server.client import submit_bundle
from vla_bench.server.core.config import Settings
from vla_bench.server.core.db import Database
from vla_bench.server.main import create_app
from vla_bench.server.serving import check_exposure, own_public_url
from vla_bench.spec.errors import UserError

QUICKSTART_USER = "quickstart"
DEFAULT_AGENT = "baseline:zero"  # not one of the bundled reference runs, so the user's run is a row of its own


def check_port_free(host: str, port: int) -> None:
    """Fail before the evaluation, with the fix, when the leaderboard could not listen on ``host:port``."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError(f"port {port} on {host} is not free ({exc.strerror}); another leaderboard or program "
                            f"is using it: stop it, or pass a free port, e.g. --port {free_port_near(host, port)}"
                            ) from None


def free_port_near(host: str, port: int) -> int:
    for candidate in range(port + 1, min(port + 50, 65535)):
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return 0


def next_steps(url: str, protocol: str, bundle: Path) -> list[str]:
    """What to do after the quickstart: the commands, ready to paste."""
    return [
        "next steps:",
        f"  evaluate your own policy   vla-bench eval --agent my_package.my_module:make_policy --protocol {protocol}",
        f"  read a run                 vla-bench report {bundle}   (or open {bundle / 'report.md'})",
        "  compare two runs           vla-bench compare RUN_A RUN_B",
        "  get a token                vla-bench server create-user NAME && vla-bench server create-token NAME",
        f"  submit                     vla-bench submit RUN --server {url} --token TOKEN",
    ]


def bundle_is_complete(directory: Path) -> bool:
    if not (directory / SUMMARY_FILE).is_file():
        return False
    try:
        summary = read_bundle_document(directory)["summary"]
        return isinstance(summary, dict) and summary.get("status") == "complete"
    except UserError:
        return False


def run_evaluation(agent: str, protocol: str, out: Path) -> None:
    """``vla-bench eval`` in a subprocess (its progress shows); an already complete bundle is reused."""
    if bundle_is_complete(out):
        print(f"reusing the finished run in {out}", file=sys.stderr)
        return
    command = [sys.executable, "-m", "vla_bench.cli", "eval", "--agent", agent, "--protocol", protocol,
               "--out", str(out)]
    if (out / SUMMARY_FILE).is_file():
        command.append("--resume")
    if subprocess.run(command, check=False).returncode != 0:
        raise UserError(f"the evaluation failed: {' '.join(command)}")


def quickstart_token(db: Database, secret_key: str) -> str:
    """A new token for the quickstart user (created on first use)."""
    with db.write() as session:
        user = crud.get_user(session=session, name=QUICKSTART_USER)
        if user is None:
            user = crud.create_user(session=session, name=QUICKSTART_USER)
        _, token = crud.create_token(session=session, user=user, secret_key=secret_key, label="quickstart")
    return token


@dataclass
class SubmitStep:
    """Submits once the server answers; runs beside uvicorn, which keeps the main thread (and Ctrl-C)."""

    server: uvicorn.Server
    url: str
    bundle: Path
    token: str
    protocol: str
    stop_after: bool
    failed: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            self._wait_until_up()
            outcome = submit_bundle(self.bundle, self.url, self.token)
            if outcome.accepted:
                print(f"submission:  {outcome.url}{' (already there)' if outcome.duplicate else ''}", flush=True)
                print(f"leaderboard: {self.url}/leaderboard/{self.protocol}", flush=True)
                if outcome.duplicate:
                    print("this run is identical to that entry (same agent, protocol and episodes), so it is "
                          "shown as that row; evaluate another agent to see a row of your own", file=sys.stderr)
                for line in next_steps(self.url, self.protocol, self.bundle):
                    print(line, file=sys.stderr)
                if not self.stop_after:
                    print("the server keeps running; Ctrl-C stops it", file=sys.stderr)
            else:
                self.failed = True
                print(f"refused ({outcome.status_code}): {outcome.message}", file=sys.stderr)
        except (UserError, httpx.HTTPError, OSError) as exc:  # reported, and the server stopped, not left half-working
            self.failed = True
            print(f"quickstart failed: {exc}", file=sys.stderr)
        finally:
            self.done.set()
            if self.stop_after or self.failed:
                self.server.should_exit = True

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or self.server.should_exit:
                raise UserError("the server did not start")
            time.sleep(0.05)
        httpx.get(f"{self.url}/api/v1/health", timeout=10).raise_for_status()


def quickstart(*, agent: str, protocol: str, out: Path, settings: Settings, host: str, port: int,
               stop_after: bool) -> bool:
    """Returns True when the bundle ended up on the leaderboard."""
    check_port_free(host, port)  # before minutes of evaluation, not after
    run_evaluation(agent, protocol, out)
    check_exposure(settings, host)
    if settings.public_url is None:  # links in answers point at this listener, never at a request's Host header
        settings = settings.model_copy(update={"public_url": own_public_url(host, port)})
    app = create_app(settings)
    token = quickstart_token(app.state.db, settings.secret_key)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    step = SubmitStep(server=server, url=f"http://{shown}:{port}", bundle=out, token=token, protocol=protocol,
                      stop_after=stop_after)
    threading.Thread(target=step.run, name="quickstart-submit", daemon=True).start()
    server.run()
    step.done.wait(timeout=5)
    return step.done.is_set() and not step.failed
