"""The ``vla-bench`` command line."""

from __future__ import annotations

from vla_bench.threads import limit_math_threads

limit_math_threads()  # before numpy / torch are imported by anything below

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.markup import escape  # noqa: E402
from rich.table import Table  # noqa: E402

from vla_bench.spec.errors import UserError  # noqa: E402

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Evaluate robot policies under fixed, versioned protocols; report and compare results.")
console = Console()
errors = Console(stderr=True)


@app.command("eval")
def eval_command(
    agent: Annotated[str, typer.Option(help="baseline:NAME, model.onnx, model.pt, package.module:factory, "
                                            "or ws://HOST:PORT[?keys=PRESET] (a policy server)")],
    protocol: Annotated[str, typer.Option(help="protocol id, e.g. mujoco/hopper@v1 (see `vla-bench list`)")],
    out: Annotated[Path | None, typer.Option(help="bundle directory [default: runs/<protocol>--<agent>--<time>]")] = (
        None
    ),
    workers: Annotated[int, typer.Option(min=1, help="env worker processes")] = 1,
    envs_per_worker: Annotated[int, typer.Option(min=1, help="environments per worker (the policy batch)")] = 8,
    resume: Annotated[bool, typer.Option(help="finish the run already in --out: only its missing episodes")] = False,
    limit_episodes: Annotated[int | None, typer.Option(min=1, help="episodes per task (unofficial run)")] = None,
    record: Annotated[int, typer.Option(min=0, help="record MP4 videos of the first K episodes")] = 0,
    policy_timeout: Annotated[float, typer.Option(help="seconds a policy call may take (0: no limit)")] = 60.0,
    env_timeout: Annotated[float, typer.Option(help="seconds an env worker may take per request")] = 300.0,
    executor: Annotated[str, typer.Option(help="local | ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --executor ray)")] = None,
    shard: Annotated[str | None, typer.Option(help="I/N: run shard I of N of the plan (join with `merge`)")] = None,
    policy_placement: Annotated[str, typer.Option(metavar="auto|worker|central", help="run the policy inside each "
                                                  "env worker (no per-step IPC) or in this process")] = "auto",
    report_format: Annotated[str, typer.Option("--format", help="table | markdown | json")] = "table",
) -> None:
    """Run an agent under a protocol and write a results bundle (summary.json + episodes.jsonl)."""
    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415 - keep `vla-bench --help` fast
    from vla_bench.harness.registry import load_protocol  # noqa: PLC0415
    from vla_bench.harness.runner import RunOptions, default_out_dir, run_evaluation  # noqa: PLC0415

    if resume and out is None:
        raise UserError("--resume needs --out DIR: the run to finish")
    resolved = load_protocol(protocol)
    loaded = load_agent(agent)
    directory = out or default_out_dir(resolved, loaded)
    options = RunOptions(workers=workers, envs_per_worker=envs_per_worker, limit_episodes=limit_episodes,
                         resume=resume, record=record, policy_timeout=policy_timeout if policy_timeout > 0 else None,
                         env_timeout=env_timeout, progress=True, executor=executor, ray_address=address,
                         shard=_parse_shard(shard), policy_placement=policy_placement)
    result = run_evaluation(resolved, loaded, directory, options)
    _show(result.summary, report_format)
    errors.print(f"results bundle: {directory}")


def _parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise UserError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(index), int(count)


@app.command("merge")
def merge_command(
    directories: Annotated[list[Path], typer.Argument(help="shard bundle directories")],
    out: Annotated[Path, typer.Option(help="directory of the merged bundle")],
    report_format: Annotated[str, typer.Option("--format", help="table | markdown | json")] = "table",
) -> None:
    """Join shard bundles of one run (same protocol and agent) into one bundle, each episode once."""
    from vla_bench.harness.merge import merge_bundles  # noqa: PLC0415

    _show(merge_bundles(directories, out), report_format)


def _show(summary: dict[str, Any], report_format: str) -> None:
    from vla_bench.harness import report  # noqa: PLC0415

    if report_format == "table":
        report.print_table(summary, console)
    elif report_format == "markdown":
        sys.stdout.write(report.markdown(summary))
    elif report_format == "json":
        sys.stdout.write(report.as_json(summary) + "\n")
    else:
        raise UserError(f"unknown --format {report_format!r}: use table, markdown or json")


@app.command("report")
def report_command(
    directory: Annotated[Path, typer.Argument(help="a results bundle directory")],
    report_format: Annotated[str, typer.Option("--format", help="table | markdown | json")] = "table",
) -> None:
    """Show a results bundle's scores (recomputed from its episodes, so they always match them)."""
    from vla_bench.harness.bundle import read_bundle  # noqa: PLC0415
    from vla_bench.harness.scoring import compute_scores  # noqa: PLC0415

    bundle = read_bundle(directory)
    summary = dict(bundle.summary)
    summary["scores"] = compute_scores(bundle.protocol(), bundle.records)
    summary["n_episodes_done"] = len(bundle.records)
    _show(summary, report_format)


@app.command("compare")
def compare_command(
    dir_a: Annotated[Path, typer.Argument(help="bundle A")],
    dir_b: Annotated[Path, typer.Argument(help="bundle B")],
    report_format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """Paired comparison of two bundles on identical episodes (bootstrap interval; McNemar for success)."""
    from vla_bench.harness import report  # noqa: PLC0415
    from vla_bench.harness.bundle import read_bundle  # noqa: PLC0415
    from vla_bench.harness.compare import paired_comparison  # noqa: PLC0415

    a, b = read_bundle(dir_a), read_bundle(dir_b)
    if a.summary["protocol"]["sha256"] != b.summary["protocol"]["sha256"]:
        raise UserError(f"the bundles were run under different protocols ({a.summary['protocol']['id']} vs "
                        f"{b.summary['protocol']['id']}, or different versions of it): they cannot be paired")
    result = paired_comparison(a.protocol(), a.records, b.records)
    if report_format == "json":
        sys.stdout.write(report.as_json(result) + "\n")
    else:
        report.print_comparison(result, a.summary["agent"]["name"], b.summary["agent"]["name"], console)


@app.command("list")
def list_command(
    what: Annotated[str, typer.Argument(help="benchmarks | protocols | agents | all")] = "all",
) -> None:
    """List benchmarks, protocols and agent forms."""
    from vla_bench.harness import registry  # noqa: PLC0415

    choices = ("benchmarks", "protocols", "agents", "all")
    if what not in choices:
        from vla_bench.spec.errors import unknown_name_error  # noqa: PLC0415

        raise unknown_name_error("listing", what, choices)
    if what in ("benchmarks", "all"):
        table = Table(title="benchmarks", title_justify="left")
        table.add_column("name")
        table.add_column("protocols", justify="right")
        table.add_column("description")
        for name in registry.benchmark_names():
            table.add_row(name, str(len(registry.protocol_ids(name))), registry.benchmark_description(name))
        console.print(table)
    if what in ("protocols", "all"):
        table = Table(title="protocols", title_justify="left")
        for column in ("id", "tasks", "episodes/task", "max steps", "observation", "metric"):
            table.add_column(column)
        for protocol_id in registry.protocol_ids():
            p = registry.get_protocol(protocol_id, allow_deprecated=True)
            table.add_row(p.id, str(len(p.tasks)), str(p.episodes_per_task), str(p.max_steps), p.observation.mode,
                          p.primary_metric)
        console.print(table)
    if what in ("agents", "all"):
        table = Table(title="agents (--agent)", title_justify="left")
        table.add_column("form")
        table.add_column("what it is")
        for name, text in registry.agent_names().items():
            table.add_row(name, text)
        console.print(table)


# Commands owned by other parts: each module has `register(app)` and imports its heavy dependencies only inside
# its commands, so `vla-bench --help` stays fast.
COMMAND_MODULES = (
    "vla_bench.server.cli",  # serve, submit, quickstart, server ...
    "vla_bench.agents.serving",  # serve-policy
    "vla_bench.harness.collect",  # collect
    "vla_bench.agents.trainers.cli",  # train
    "vla_bench.runtimes.cli",  # setup, doctor
)
for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless software rendering unless the user chose a backend
    try:
        app()
    except UserError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        errors.print("interrupted: finished episodes are kept; rerun with --resume to finish the run")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
