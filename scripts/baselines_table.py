"""The baseline table: every results bundle under ``results/`` with its score, interval and training cost.

Written to ``results/BASELINES.md`` and between the ``<!-- baselines:start -->`` / ``<!-- baselines:end -->``
markers of the README, by ``make baselines`` (or ``python scripts/baselines_table.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- baselines:start -->", "<!-- baselines:end -->"
ALGO_NAMES = {"bc": "BC", "dagger": "DAgger", "ppo": "PPO", "sac": "SAC", "iql": "IQL", "cql": "CQL", "td3bc": "TD3+BC",
              "dt": "DT", "gail": "GAIL", "grpo": "GRPO"}
ONLINE = ("ppo", "sac", "gail", "grpo")  # budgets in environment steps
# trained far below their sources' budgets on a 2-core CPU (scripts/make_baselines.py says by how much)
SCALED_DOWN = ("dt-hopper-ppo-bundled", "gail-hopper-ppo-bundled", "ppo-pandapickcube-state",
               "grpo-pandapickcube-state")
# runs that only prove a training path works end to end (too short to learn the task)
PATH_CHECKS = ("ppo-pandapickcube-vision",)
# the anchors REFERENCE.md gives for these protocols (rl-zoo3 benchmark.md, PPO, v3 envs, one run: §6.3)
ANCHORS = {("mujoco/hopper@v1", "ppo"): "rl-zoo3 PPO Hopper-v3: 2410 return",
           ("mujoco/walker2d@v1", "ppo"): "rl-zoo3 PPO Walker2d-v3: see REFERENCE.md §6.3",
           ("mujoco/halfcheetah@v1", "ppo"): "rl-zoo3 PPO HalfCheetah-v3: see REFERENCE.md §6.3"}


def _fmt(metric: str, estimate: dict[str, Any]) -> str:
    low, high = estimate["ci95"]
    if metric == "success_rate":
        return f"{100 * estimate['mean']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"
    return f"{estimate['mean']:.1f} [{low:.1f}, {high:.1f}]"


def _training(agent: str, times: dict[str, float]) -> tuple[str, str]:
    """(budget, wall-clock) of a bundled agent's training, from its manifest and the build's step times."""
    name = agent.removeprefix("baseline:")
    manifest_path = ROOT / "results" / "agents" / name / "manifest.json"
    if not manifest_path.is_file():
        return "-", "-"
    manifest = json.loads(manifest_path.read_text())
    unit = "env steps" if manifest.get("algo") in ONLINE else "gradient steps"
    seconds = times.get(f"train {name}")
    wall = f"{seconds / 60:.1f} min" if seconds is not None else "-"
    algo = ALGO_NAMES.get(str(manifest.get("algo")), str(manifest.get("algo")))
    scaled = " (path check)" if name in PATH_CHECKS else " (scaled down)" if name in SCALED_DOWN else ""
    return f"{algo}, {manifest.get('steps', 0):,} {unit}{scaled}", wall


def rows(results: Path, times: dict[str, float]) -> list[list[str]]:
    found = []
    for summary_path in sorted(results.glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        scores = summary["scores"]
        aggregate = scores["aggregate"]
        metric = aggregate["metric"]
        protocol = summary["protocol"]["id"]
        agent = summary["agent"]["name"]
        mean_return = ""
        if metric != "mean_return" and len(scores["tasks"]) == 1:
            task = next(iter(scores["tasks"].values()))
            if task.get("mean_return"):
                mean_return = f"{task['mean_return']['mean']:.0f}"
        budget, wall = _training(agent, times)
        found.append([protocol, agent, metric, _fmt(metric, aggregate["mean"]), mean_return,
                      str(aggregate["n_episodes"]), budget, wall, summary_path.parent.name])
    return found


def per_task(results: Path, protocol: str, reference: str) -> str:
    """Success per task of every bundle under ``protocol``, next to the ``reference`` bundle's on the same
    tasks (MT10's goals are MT50's, so the scripted expert's MT50 run is the reference for MT10)."""
    columns: dict[str, dict[str, float]] = {}
    for summary_path in sorted(results.glob("*/summary.json")):
        summary = json.loads(summary_path.read_text())
        if summary["protocol"]["id"] == protocol or summary_path.parent.name == reference:
            label = summary["agent"]["name"] + (f" ({summary['protocol']['id']})" if summary_path.parent.name ==
                                                reference else "")
            columns[label] = {t: v["success_rate"]["mean"] for t, v in summary["scores"]["tasks"].items()}
    tasks = next((list(c) for label, c in columns.items() if "(" not in label), [])
    lines = ["| task | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for task in tasks:
        cells = [f"{100 * c[task]:.0f}%" if task in c else "-" for c in columns.values()]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render(results: Path, times_path: Path) -> str:
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    header = ["protocol", "agent", "metric", "score [95% CI]", "return", "episodes", "training", "training time here",
              "bundle"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([*row[:-1], f"`results/{row[-1]}`"]) + " |" for row in rows(results, times)]
    mt10 = per_task(results, "metaworld/mt10@v1", "metaworld-mt50--baseline-metaworld-scripted")
    return "\n".join(lines) + "\n\nMetaWorld MT10, success per task (50 goals each):\n\n" + mt10


def write_table(results: Path, times_path: Path) -> None:
    table = render(results, times_path)
    (results / "BASELINES.md").write_text("# Bundled baselines\n\nRebuilt by `make baselines` "
                                          "(scripts/make_baselines.py); times measured on a 2-core CPU machine.\n\n"
                                          + table)
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{table}{END}{tail}")
    print(table)


if __name__ == "__main__":
    write_table(ROOT / "results", ROOT / "results" / "build_times.json")
