"""``vla-bench eval-offline`` and ``vla-bench robustness``: scoring without (new) simulation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vla_bench.spec.errors import UserError


def eval_offline_command(
    agent: Annotated[str, typer.Option("--agent", metavar="AGENT", help="the policy (same forms as `eval`)")],
    dataset: Annotated[Path, typer.Option("--dataset", metavar="FILE", help="a D4RL-format or robomimic HDF5 file")],
    protocol: Annotated[str | None, typer.Option(metavar="ID", help="protocol whose task instructions the policy "
                                                 "is told (default: the dataset's protocol_id, if any)")] = None,
    fraction: Annotated[float, typer.Option(help="share of episodes held out (files without robomimic's "
                                                 "mask/valid)")] = 0.1,
    report_format: Annotated[str, typer.Option("--format", help="table (Markdown) or json")] = "table",
    out: Annotated[Path | None, typer.Option(metavar="FILE", help="also write the JSON result here")] = None,
) -> None:
    """Action MSE / trajectory error of AGENT on the held-out episodes of a dataset, with 95% intervals."""
    from vla_bench.agents.loaders import load_agent  # noqa: PLC0415
    from vla_bench.harness import offline_eval  # noqa: PLC0415
    from vla_bench.protocols import load_protocol  # noqa: PLC0415

    if not dataset.is_file():
        raise UserError(f"dataset {dataset} does not exist")
    episodes, info = offline_eval.load_heldout(dataset, fraction)
    protocol_id = protocol or info.get("protocol_id")
    resolved = load_protocol(protocol_id) if protocol_id else None
    result = {**offline_eval.evaluate_offline(load_agent(agent), episodes, resolved), "dataset": info}
    text = json.dumps(result, indent=2)
    if out is not None:
        out.write_text(text + "\n", encoding="utf-8")
    sys.stdout.write(text + "\n" if report_format == "json" else offline_eval.markdown(result))


def robustness_command(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="results bundle of a robustness protocol")],
    clean: Annotated[Path | None, typer.Option(metavar="RUN", help="a bundle of the clean protocol to pair with "
                                                                   "(default: the run's own clean arm)")] = None,
    report_format: Annotated[str, typer.Option("--format", help="table (Markdown) or json")] = "table",
) -> None:
    """Per axis and level: score and paired drop from clean (95% CI), and the aggregate robustness score."""
    from vla_bench.harness.bundle import read_bundle  # noqa: PLC0415
    from vla_bench.scoring import robustness  # noqa: PLC0415

    bundle = read_bundle(run)
    protocol = bundle.protocol()
    clean_records = None
    if clean is not None:
        clean_bundle = read_bundle(clean)
        expected = protocol.perturbation.clean_protocol if protocol.perturbation else None
        if clean_bundle.summary_model.protocol.id != expected:
            raise UserError(f"{clean} ran {clean_bundle.summary_model.protocol.id}, not {expected}, the clean "
                            f"protocol {protocol.id} pairs with")
        clean_records = clean_bundle.records
    try:
        result = robustness.robustness_scores(protocol, bundle.records, clean_records)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    sys.stdout.write(json.dumps(result, indent=2) + "\n" if report_format == "json" else robustness.markdown(result))


def register(app: typer.Typer) -> None:
    app.command("eval-offline")(eval_offline_command)
    app.command("robustness")(robustness_command)
