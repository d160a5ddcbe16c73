"""One lazy, typed registry of named things: benchmark adapters, runtimes, baselines, trainers, key presets,
executors, chain generators.

An entry is a ``"package.module:object"`` string (``object`` may be dotted), imported on the first
:meth:`Registry.get` of its name and cached, or the object itself. Listing, iterating and ``in`` import nothing,
so ``vla-bench --help`` and ``vla-bench list`` stay fast and a benchmark's simulator loads only where it runs.
An unknown name is a :class:`~vla_bench.spec.errors.UserError` with did-you-mean suggestions; a target that does
not load (its module or attribute is missing) or is not of the registry's type is a :class:`RegistryError` that
names the entry. Keep entries as string literals: ``tests/test_layering.py`` reads them as import edges.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar, cast

from vla_bench.spec.errors import UnknownNameError, UserError, unknown_name_error

T = TypeVar("T")


class RegistryError(UserError):
    """A registered entry that does not load, or loads as the wrong type: the registration is wrong."""


def split_target(target: str) -> tuple[str, str]:
    """``"package.module:object.attr"`` -> ``("package.module", "object.attr")``; ValueError on another form."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr or ":" in attr:
        raise ValueError(f"{target!r} is not of the form 'package.module:object'")
    return module, attr


def import_target(target: str) -> object:
    """The object a ``"package.module:object.attr"`` string names, imported now.

    Raises ModuleNotFoundError when the module is missing, AttributeError when it lacks the object, and whatever
    the module's own import raises (a missing simulator stays an ImportError of that simulator)."""
    module_name, attr = split_target(target)
    found: object = importlib.import_module(module_name)
    for part in attr.split("."):
        found = getattr(found, part)
    return found


def _is_missing(exc: ModuleNotFoundError, module_name: str) -> bool:
    """Whether ``exc`` says the target module itself (or a package above it) does not exist, as opposed to a
    module it imports."""
    return exc.name is not None and (module_name == exc.name or module_name.startswith(f"{exc.name}."))


class Registry(Generic[T]):
    """Named entries of one kind, loaded lazily: ``Registry[RuntimeSpec]("runtime", {"calvin": "pkg.mod:OBJ"})``.

    ``entries`` given as a dict is used as is, not copied, so code that patches that dict (tests, plugins) is
    seen by the next :meth:`get`; a cached object is reused only while its entry is unchanged. ``instance_of``
    checks each loaded object (``type`` for a registry of classes). ``prefix`` is how users write a name
    (``baseline:``): errors show names with it, suggestions match without it. ``descriptions`` are the one-line
    texts ``vla-bench list`` shows.
    """

    def __init__(self, kind: str, entries: Mapping[str, str | T] | None = None, *,
                 instance_of: type | tuple[type, ...] | None = None, prefix: str = "",
                 descriptions: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.prefix = prefix
        self._entries: dict[str, str | T] = entries if isinstance(entries, dict) else dict(entries or {})
        self._instance_of = instance_of
        self._descriptions = dict(descriptions or {})
        self._loaded: dict[str, tuple[str | T, T]] = {}  # name -> (the entry it was loaded from, the object)

    def register(self, name: str, target: str | T, *, description: str = "", replace: bool = False) -> None:
        """Add an entry (a ``"module:object"`` string or the object); an existing name needs ``replace``."""
        if name in self._entries and not replace:
            raise ValueError(f"{self.kind} {name!r} is already registered as {self._entries[name]!r}")
        self._entries[name] = target
        if description:
            self._descriptions[name] = description

    def get(self, name: str) -> T:
        """The object registered as ``name``, imported on first use and cached."""
        if name not in self._entries:
            raise self.unknown(name)
        target = self._entries[name]
        cached = self._loaded.get(name)
        if cached is not None and (cached[0] is target or (isinstance(target, str) and cached[0] == target)):
            return cached[1]
        loaded = self._load(name, target)
        self._loaded[name] = (target, loaded)
        return loaded

    def __getitem__(self, name: str) -> T:
        """``registry[name]`` is :meth:`get`."""
        return self.get(name)

    def _load(self, name: str, target: str | T) -> T:
        found: object = target
        if isinstance(target, str):
            try:
                module_name, attr = split_target(target)
                found = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if not _is_missing(exc, module_name):
                    raise  # the module exists; something it imports does not (e.g. an uninstalled simulator)
                raise self._bad(name, target, exc) from exc
            except ValueError as exc:
                raise self._bad(name, target, exc) from exc
            for part in attr.split("."):
                if not hasattr(found, part):
                    error = AttributeError(f"{getattr(found, '__name__', module_name)!r} has no attribute {part!r}")
                    raise self._bad(name, target, error)
                found = getattr(found, part)
        if self._instance_of is not None and not isinstance(found, self._instance_of):
            expected = (self._instance_of,) if isinstance(self._instance_of, type) else self._instance_of
            raise RegistryError(f"the {self.kind} {self.prefix + name!r} (registered as {target!r}) is a "
                                f"{type(found).__name__}, not a {' or '.join(t.__name__ for t in expected)}")
        return cast(T, found)

    def _bad(self, name: str, target: str, exc: Exception) -> RegistryError:
        return RegistryError(f"the {self.kind} {self.prefix + name!r} is registered as {target!r}, which does not "
                             f"load: {exc}")

    def unknown(self, name: str) -> UnknownNameError:
        """The did-you-mean error for a name not registered here (for callers that look elsewhere first)."""
        return unknown_name_error(self.kind, name, self._entries, prefix=self.prefix)

    def target(self, name: str) -> str | T:
        """The entry as registered (a ``"module:object"`` string or the object), importing nothing."""
        if name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    def description(self, name: str) -> str:
        return self._descriptions.get(name, "")

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
