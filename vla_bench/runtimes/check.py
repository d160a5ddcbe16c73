"""Does an interpreter satisfy a runtime? Asked of the interpreter itself, in a subprocess.

The probe reads installed distributions' metadata (``importlib.metadata``) in the target interpreter, so the
answer is about that interpreter's environment, not ours; the requirements are then judged here with
``packaging`` (PEP 440 specifiers, PEP 508 markers evaluated with the target's own marker values).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from vla_bench.spec.errors import UserError
from vla_bench.spec.runtime import RuntimeSpec

# Runs in the target interpreter: standard library only, and any Python >= 3.8.
_PROBE = r"""
import importlib, json, os, platform, sys
from importlib import metadata
names, modules = json.loads(sys.argv[1])
MARK = sys.argv[2]
versions, requires = {}, {}
for name in names:
    try:
        versions[name] = metadata.version(name)
        requires[name] = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        versions[name] = None
imports = {}
for module in modules:
    try:
        importlib.import_module(module)
        imports[module] = None
    except BaseException as exc:
        imports[module] = type(exc).__name__ + ": " + str(exc)
markers = {
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "python_full_version": platform.python_version(),
    "implementation_name": sys.implementation.name,
    "os_name": os.name, "sys_platform": sys.platform, "platform_system": platform.system(),
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_python_implementation": platform.python_implementation(),
}
answer = {"executable": sys.executable, "prefix": sys.prefix, "versions": versions, "requires": requires,
          "imports": imports, "markers": markers}
print("\n" + MARK + json.dumps(answer))
"""


_MARK = "vla-bench-probe:"


class ProbeAnswer(TypedDict):
    """What :data:`_PROBE` prints (after the mark), as JSON."""

    executable: str
    prefix: str
    versions: dict[str, str | None]  # distribution -> installed version (None: not installed)
    requires: dict[str, list[str]]  # installed distribution -> its requirements (PEP 508 strings)
    imports: dict[str, str | None]  # module -> why importing it failed (None: it imports)
    markers: dict[str, str]  # PEP 508 marker values of the interpreter


@dataclass(frozen=True)
class RuntimeCheck:
    """What an interpreter lacks for a runtime (nothing: it satisfies it)."""

    python: str
    python_version: str | None
    problems: tuple[str, ...]
    versions: Mapping[str, str | None]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 4) -> str:
        """The first ``limit`` problems, and how many more (a runtime may pin dozens of packages)."""
        shown = "; ".join(self.problems[:limit])
        more = len(self.problems) - limit
        return f"{shown}; and {more} more" if more > 0 else shown


def probe(python: str, distributions: Sequence[str] = (), imports: Sequence[str] = (), *,
          env: Mapping[str, str] | None = None, timeout: float = 120.0) -> ProbeAnswer:
    """Ask ``python`` for its version, installed distributions' versions and which modules import."""
    try:
        done = subprocess.run([python, "-c", _PROBE, json.dumps([list(distributions), list(imports)]), _MARK],
                              capture_output=True, text=True, timeout=timeout, env=dict(env) if env else None,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"the interpreter {python} does not run: {exc}") from exc
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise UserError(f"the interpreter {python} does not run (exit code {done.returncode}): {tail}")
    try:
        # imported modules may print (LIBERO prompts without a newline): the answer is the marked line
        line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(_MARK))
        result: ProbeAnswer = json.loads(line[len(_MARK):])
    except (ValueError, StopIteration) as exc:
        raise UserError(f"the interpreter {python} answered the probe with {done.stdout[-200:]!r}") from exc
    return result


def parse_requirements(spec: RuntimeSpec) -> list[Requirement]:
    parsed = []
    for text in spec.requirements:
        try:
            parsed.append(Requirement(text))
        except InvalidRequirement as exc:
            raise UserError(f"runtime {spec.name!r} has an invalid requirement {text!r}: {exc}") from exc
    return parsed


def check_runtime(spec: RuntimeSpec, python: str = sys.executable, *, env: Mapping[str, str] | None = None,
                  check_imports: bool = False) -> RuntimeCheck:
    """Check ``python`` against ``spec``: its version and every requirement (imports too if asked)."""
    requirements = parse_requirements(spec)
    try:
        python_spec = SpecifierSet(spec.python)
    except InvalidSpecifier as exc:
        raise UserError(f"runtime {spec.name!r} has an invalid python specifier {spec.python!r}: {exc}") from exc
    try:
        found = probe(python, [r.name for r in requirements], spec.imports if check_imports else (), env=env)
        markers: dict[str, str] = found["markers"]
        extras = _extras_requirements(requirements, found, markers)
        if extras:  # `gymnasium[mujoco]` also needs what its `mujoco` extra pulls in
            requirements += extras
            found["versions"].update(probe(python, [r.name for r in extras], env=env)["versions"])
    except UserError as exc:
        return RuntimeCheck(python=python, python_version=None, problems=(str(exc),), versions={})
    version = markers["python_full_version"]
    problems, absent = [], []  # wrong versions first: they say more than a list of absent packages
    if not python_spec.contains(version, prereleases=True):
        problems.append(f"python {version} does not satisfy {spec.python}")
    versions: dict[str, str | None] = found["versions"]
    for requirement in requirements:
        if requirement.marker is not None and not Marker(str(requirement.marker)).evaluate(markers):
            continue  # not meant for this interpreter
        installed = versions.get(requirement.name)
        if installed is None:
            absent.append(f"{requirement} is not installed")
        elif requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement} is not satisfied ({canonicalize_name(requirement.name)} "
                            f"{installed} is installed)")
    problems.extend(absent)
    for module, error in found["imports"].items():
        if error is not None:
            problems.append(f"`import {module}` fails: {error}")
    return RuntimeCheck(python=str(found["executable"]), python_version=version, problems=tuple(problems),
                        versions=versions)


def _extras_requirements(requirements: list[Requirement], found: ProbeAnswer,
                         markers: dict[str, str]) -> list[Requirement]:
    """What the requested extras of installed distributions require (one level), as requirements to check."""
    needed = []
    for requirement in requirements:
        for text in found["requires"].get(requirement.name, []) if requirement.extras else []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or marker.evaluate({**markers, "extra": ""}):
                continue  # a plain dependency, not the extra's: pip checked it when it installed the package
            if any(marker.evaluate({**markers, "extra": extra}) for extra in requirement.extras):
                dependency.marker = None
                needed.append(dependency)
    return needed


def satisfied(spec: RuntimeSpec, python: str = sys.executable, *, env: Mapping[str, str] | None = None) -> bool:
    """True when ``python`` has the python version and every pinned requirement of ``spec``."""
    return check_runtime(spec, python, env=env).ok
