"""The top-level ``vla-bench`` commands (eval, report, compare, list ...); the other command modules of this
package register theirs on :data:`app`."""

from __future__ import annotations

import dataclasses
import importlib
import shlex
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import typer.core
from rich.console import Console
from rich.markup import escape

from vla_bench.cli.started import process_started_at
from vla_bench.spec.errors import UserError, describe_exception
from vla_bench.threads import limit_math_threads

if TYPE_CHECKING:
    from typer import _click  # typer's own (vendored) click, the type of its options' contexts

    from vla_bench.spec.summary import Summary  # an annotation: the models load with the command that needs them

limit_math_threads()  # before numpy / torch are imported by anything below (typer and rich load neither)


def _new_app() -> typer.Typer:
    """An empty ``vla-bench`` app: the whole one below, and the one-command apps of :func:`app_for`."""
    return typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                       help="Evaluate robot policies under fixed, versioned protocols; report and compare results.")


app = _new_app()
console = Console()
errors = Console(stderr=True)
DEBUG = {"on": False}  # --debug: unexpected errors show their traceback
EXIT_TOO_MANY_ERRORS = 3  # eval: the share of errored episodes exceeded --max-error-rate
_display_type = typer.core.TyperOption.display_type_rich


def _flag_aware_type(self: typer.core.TyperOption, ctx: _click.Context) -> str | None:
    # Typer's help would print "<bool>" beside every on/off flag, which takes no value: show nothing instead
    return None if self.is_flag else _display_type(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_aware_type  # type: ignore[method-assign]


class OutputFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="how to print the result")]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version  # noqa: PLC0415

        typer.echo(f"vla-bench {version('vla-bench')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="print the version and exit")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="show full tracebacks of unexpected errors")] = False,
) -> None:
    """Evaluate robot policies under fixed, versioned protocols; report and compare results."""
    DEBUG["on"] = debug


@app.command("eval")
def eval_command(
    agent: Annotated[str, typer.Option(metavar="AGENT", help="baseline:NAME, model.onnx, model.pt, "
                                       "package.module:factory, ws://HOST:PORT[?keys=PRESET] (a policy server), "
                                       "vlaeval://HOST:PORT (a vla-eval model server) or lerobot:PATH")],
    protocol: Annotated[str, typer.Option(metavar="ID", help="protocol id, e.g. mujoco/hopper@v1 "
                                                             "(see `vla-bench list protocols`)")],
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="bundle directory "
                                             "[default: runs/<protocol>--<agent>--<time>]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="env worker processes")] = 1,
    envs_per_worker: Annotated[int, typer.Option(min=1, help="environments per worker (the policy batch)")] = 8,
    resume: Annotated[bool, typer.Option("--resume", help="finish the run already in --out: only its missing "
                                                         "episodes")] = False,
    limit_episodes: Annotated[int | None, typer.Option(min=1, help="episodes per task (unofficial run)")] = None,
    record: Annotated[int, typer.Option(min=0, help="record MP4 videos of the first K episodes")] = 0,
    policy_timeout: Annotated[float, typer.Option(min=0.0, help="seconds a policy call may take (0: no limit)")] = 60.0,
    env_timeout: Annotated[float, typer.Option(help="seconds an env worker may take per request")] = 300.0,
    executor: Annotated[str, typer.Option(metavar="local|ray", help="where env workers run")] = "local",
    address: Annotated[str | None, typer.Option(metavar="ADDRESS", help="Ray cluster address (--executor ray)")] = None,
    shard: Annotated[str | None, typer.Option(metavar="I/N", help="run shard I of N of the plan (see `merge`)")] = None,
    policy_placement: Annotated[str, typer.Option(metavar="auto|worker|central", help="run the policy inside each "
                                                  "env worker (no per-step IPC) or in this process")] = "auto",
    report_format: FormatOption = OutputFormat.table,
    max_error_rate: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="RATE",
                                                  help="exit with status 3 when more than this share of episodes "
                                                       "errored")] = 0.1,
    training_group: Annotated[str | None, typer.Option(metavar="NAME", help="the method this agent is a training "
                                                       "run of: the leaderboard scores runs of one group (and owner) "
                                                       "with different --training-seed values together")] = None,
    training_seed: Annotated[int | None, typer.Option(metavar="N", help="the training seed of this run "
                                                      "(with --training-group)")] = None,
) -> None:
    """Run an agent under a protocol and write a results bundle (summary.json + episodes.jsonl, report.md,
    plots/). Exit status: 0 done, 2 bad input, 3 too many errored episodes, 130 interrupted."""
    if executor == "local":  # the env workers start (and load a file agent) while this process gets ready
        from vla_bench.harness.prestart import prestart, worker_agent  # noqa: PLC0415

        prestart(workers, protocol, worker_agent(agent, policy_placement))  # no-op if already started from argv
    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415 - keep `vla-bench --help` fast
    from vla_bench.harness.eval_config import EvalConfig  # noqa: PLC0415
    from vla_bench.harness.failures import summarize_failures  # noqa: PLC0415
    from vla_bench.harness.runner import default_out_dir, run_evaluation  # noqa: PLC0415
    from vla_bench.protocols import load_protocol  # noqa: PLC0415

    if resume and out is None:
        raise UserError("--resume needs --out DIR: the run to finish")
    if (training_group is None) != (training_seed is None):
        raise UserError("--training-group and --training-seed go together: the method and which run of it this is")
    # validated before anything loads; executor and placement are checked against their Literal there
    options = EvalConfig.from_options(
        workers=workers, envs_per_worker=envs_per_worker, limit_episodes=limit_episodes, resume=resume, record=record,
        policy_timeout=policy_timeout if policy_timeout > 0 else None, env_timeout=env_timeout, progress=True,
        executor=executor, ray_address=address, shard=_parse_shard(shard), policy_placement=policy_placement,
        started_at=process_started_at())
    resolved = load_protocol(protocol)
    loaded = load_agent(agent)
    if training_group is not None and training_seed is not None:
        from vla_bench.agents.policy import TrainingRun  # noqa: PLC0415

        loaded = dataclasses.replace(loaded, training=TrainingRun(training_group, training_seed))
    directory = out or default_out_dir(resolved, loaded)
    try:
        result = run_evaluation(resolved, loaded, directory, options)
    except KeyboardInterrupt:
        command = ["vla-bench", "eval", "--agent", agent, "--protocol", protocol, "--out", str(directory), "--resume"]
        command += [f"--limit-episodes={limit_episodes}"] if limit_episodes else []
        command += [f"--shard={shard}"] if shard else []
        command += ["--training-group", training_group, f"--training-seed={training_seed}"] if training_group else []
        errors.print(f"interrupted: finished episodes are kept in {directory}; finish the run with:\n  "
                     f"{shlex.join(command)}", highlight=False, soft_wrap=True)
        raise SystemExit(130) from None
    _show(result.summary_model, report_format.value)
    failures = summarize_failures(result.records, resolved.task_names)
    for line in failures.lines():
        errors.print(escape(line), highlight=False, soft_wrap=True)
    errors.print(f"results bundle: {directory} (report: {directory / 'report.md'})", highlight=False, soft_wrap=True)
    if failures.exceeds(max_error_rate):
        errors.print(f"[bold red]failed:[/] {100 * failures.error_rate:.1f}% of episodes errored, above "
                     f"--max-error-rate {max_error_rate:g}", highlight=False, soft_wrap=True)
        raise SystemExit(EXIT_TOO_MANY_ERRORS)


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
    out: Annotated[Path, typer.Option(metavar="DIR", help="directory of the merged bundle")],
    report_format: FormatOption = OutputFormat.table,
) -> None:
    """Join shard bundles of one run (same protocol and agent) into one bundle, each episode once."""
    from vla_bench.harness.merge import merge_summary  # noqa: PLC0415

    _show(merge_summary(directories, out), report_format.value)


def _show(summary: Summary, report_format: str) -> None:
    from vla_bench.harness import report  # noqa: PLC0415

    if report_format == "table":
        report.print_table(summary, console)  # never wraps a number: wider than the screen rather
    elif report_format == "markdown":
        sys.stdout.write(report.markdown(summary))
    elif report_format == "json":
        sys.stdout.write(report.as_json(summary) + "\n")
    else:
        raise UserError(f"unknown --format {report_format!r}: use table, markdown or json")


@app.command("report")
def report_command(
    directory: Annotated[Path, typer.Argument(help="a results bundle directory")],
    report_format: FormatOption = OutputFormat.table,
    write: Annotated[bool, typer.Option("--write", help="also (re)write report.md and plots/ in the bundle")] = False,
) -> None:
    """Show a results bundle's scores (recomputed from its episodes, so they always match them)."""
    from vla_bench.harness.bundle import read_bundle  # noqa: PLC0415
    from vla_bench.harness.run_report import write_run_report  # noqa: PLC0415
    from vla_bench.scoring.scores import compute_scores  # noqa: PLC0415
    from vla_bench.spec.summary import Scores  # noqa: PLC0415

    bundle = read_bundle(directory)
    scores = Scores.model_validate(compute_scores(bundle.protocol(), bundle.records))
    summary = bundle.summary_model.model_copy(update={"scores": scores, "n_episodes_done": len(bundle.records)})
    _show(summary, report_format.value)
    if write:
        errors.print(f"wrote {write_run_report(directory, bundle.protocol(), summary, bundle.records)}",
                     highlight=False, soft_wrap=True)


@app.command("compare")
def compare_command(
    first: Annotated[str, typer.Argument(metavar="A", help="bundle A (with --sequential: agent A)")],
    second: Annotated[str, typer.Argument(metavar="B", help="bundle B (with --sequential: agent B)")],
    report_format: FormatOption = OutputFormat.table,
    sequential: Annotated[bool, typer.Option("--sequential", help="run agents A and B on paired episodes of "
                                             "--protocol until an anytime-valid test decides (a decision, not a "
                                             "score)")] = False,
    protocol: Annotated[str | None, typer.Option(metavar="ID", help="protocol (with --sequential)")] = None,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, metavar="ALPHA", help="error rate of the "
                                         "sequential decision")] = 0.05,
    out: Annotated[Path | None, typer.Option(metavar="DIR", help="with --sequential: where both runs go "
                                             "[default: runs/sequential-<time>]")] = None,
    max_episodes: Annotated[int | None, typer.Option(min=1, metavar="N", help="with --sequential: at most N "
                                                     "episodes per task [default: the protocol's]")] = None,
    workers: Annotated[int, typer.Option(min=1, help="env worker processes (with --sequential)")] = 1,
) -> None:
    """Paired comparison of two bundles on identical episodes: both arms, B − A with a paired bootstrap interval,
    for success rates McNemar's exact test and Newcombe's interval (percentage points), and a verdict.
    With --sequential: run two agents until decided (see the README's "Sequential comparison")."""
    from vla_bench.harness import report  # noqa: PLC0415
    from vla_bench.harness.bundle import read_bundle  # noqa: PLC0415
    from vla_bench.harness.comparison import Comparison  # noqa: PLC0415
    from vla_bench.scoring.compare import paired_comparison  # noqa: PLC0415

    if sequential:
        _sequential(first, second, protocol, alpha, out, max_episodes, workers, report_format)
        return
    if protocol is not None:
        raise UserError("--protocol goes with --sequential; two bundles already name theirs")
    a, b = read_bundle(Path(first)), read_bundle(Path(second))
    claimed_a, claimed_b = a.summary_model.protocol, b.summary_model.protocol
    if claimed_a.sha256 != claimed_b.sha256:
        raise UserError(f"the bundles were run under different protocols ({claimed_a.id} vs "
                        f"{claimed_b.id}, or different versions of it): they cannot be paired")
    result = paired_comparison(a.protocol(), a.records, b.records)
    names = a.summary_model.agent.name, b.summary_model.agent.name
    if report_format == OutputFormat.json:
        sys.stdout.write(report.as_json({**result, "a_agent": names[0], "b_agent": names[1]}) + "\n")
    elif report_format == OutputFormat.markdown:
        sys.stdout.write(report.comparison_markdown(Comparison.model_validate(result), *names))
    else:
        report.print_comparison(Comparison.model_validate(result), *names, console)


def _sequential(agent_a: str, agent_b: str, protocol_id: str | None, alpha: float, out: Path | None,
                max_episodes: int | None, workers: int, report_format: OutputFormat) -> None:

    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415
    from vla_bench.harness import report  # noqa: PLC0415
    from vla_bench.harness.eval_config import EvalConfig  # noqa: PLC0415
    from vla_bench.harness.sequential_run import decision_line, sequential_comparison  # noqa: PLC0415
    from vla_bench.protocols import load_protocol  # noqa: PLC0415

    if protocol_id is None:
        raise UserError("--sequential needs --protocol ID: the protocol whose episodes both agents run")
    directory = out or Path("runs") / f"sequential-{time.strftime('%Y%m%d-%H%M%S')}"
    result = sequential_comparison(load_protocol(protocol_id), load_agent(agent_a), load_agent(agent_b), directory,
                                   alpha=alpha, base=EvalConfig(workers=workers), max_per_task=max_episodes,
                                   log=lambda line: errors.print(line, highlight=False, soft_wrap=True))
    if report_format == OutputFormat.json:
        sys.stdout.write(report.as_json(result) + "\n")
    else:
        prefix = "**Sequential decision (not a score):** " if report_format == OutputFormat.markdown else ""
        sys.stdout.write(prefix + decision_line(result) + f"\nmethod: {result['method']}\n")


@app.command("list")
def list_command(
    what: Annotated[str, typer.Argument(metavar="[benchmarks|protocols|agents|all]", help="what to list")] = "all",
    patterns: Annotated[list[str] | None, typer.Argument(metavar="[FILTER]...", help="keep entries whose id or "
                        "description contains each FILTER (a glob such as 'mujoco/*@v1' matches the id)")] = None,
    benchmark: Annotated[str | None, typer.Option(metavar="NAME", help="only this benchmark's entries")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the entries as JSON")] = False,
) -> None:
    """List benchmarks, protocols and agents (full ids; one entry per line when piped)."""
    from vla_bench import protocols  # noqa: PLC0415
    from vla_bench.harness import listing  # noqa: PLC0415
    from vla_bench.spec.errors import unknown_name_error  # noqa: PLC0415

    choices = (*listing.SECTIONS, "all")
    if what not in choices:
        raise unknown_name_error("listing", what, choices)
    if benchmark is not None and benchmark not in protocols.benchmark_names():
        raise unknown_name_error("benchmark", benchmark, protocols.benchmark_names())
    sections = list(listing.SECTIONS) if what == "all" else [what]
    rows = listing.collect(sections, patterns or [], benchmark)
    if as_json:
        sys.stdout.write(listing.as_json(rows) + "\n")
    elif sys.stdout.isatty():
        listing.print_tables(rows, sections, console)
    else:
        sys.stdout.write(listing.plain(rows, sections))


# Commands owned by other parts: each module has `register(app)` and imports its heavy dependencies only inside
# its commands, so `vla-bench --help` stays fast.
COMMAND_MODULES = (
    "vla_bench.cli.server",  # serve, submit, quickstart, server ...
    "vla_bench.cli.serve_policy",  # serve-policy
    "vla_bench.cli.collect",  # collect
    "vla_bench.cli.train",  # train
    "vla_bench.cli.runtimes",  # setup, doctor
    "vla_bench.cli.offline",  # eval-offline, robustness
)
_REGISTERED: list[str] = []


def register_commands() -> typer.Typer:
    """The whole command line: this module's commands and every other command module's (imported once)."""
    for module in COMMAND_MODULES:
        if module not in _REGISTERED:
            importlib.import_module(module).register(app)
            _REGISTERED.append(module)
    return app


def _app_for(args: list[str]) -> typer.Typer:
    """The app to run ``args`` with. A command of this module (``eval``: start-up counts) gets an app holding
    only that command, so typer builds one command's options instead of every command's and the other command
    modules are not imported; its help and behaviour are the same. Anything else gets the whole app."""
    name = args[0] if args else None
    own = [info for info in app.registered_commands if name is not None and info.name == name]
    if not own or _REGISTERED:
        return register_commands()
    single = _new_app()
    single.registered_callback = app.registered_callback  # --version, --debug; keeps `vla-bench eval` a group
    single.registered_commands = own
    return single


def run() -> None:
    """Run the typer app; a user error is one red line and exit 2, anything unexpected one line and exit 1."""
    try:
        _app_for(sys.argv[1:])()
    except UserError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        errors.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:  # an unexpected failure: one line; the traceback only with --debug
        if DEBUG["on"]:
            raise
        errors.print(f"[bold red]error:[/] {escape(describe_exception(exc))}\n(rerun with --debug for the "
                     "traceback)", highlight=False, soft_wrap=True)
        raise SystemExit(1) from None

