"""spec.registry: lazy entries imported on first get and cached, did-you-mean errors, bad entries named."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from vla_bench.spec.errors import UnknownNameError, UserError
from vla_bench.spec.registry import Registry, RegistryError, import_target, split_target

MODULE = "vlab_registry_probe"


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module on sys.path that counts its imports in ``IMPORTS`` of a second, always-loaded module."""
    (tmp_path / f"{MODULE}.py").write_text(textwrap.dedent("""
        import vlab_registry_counter
        vlab_registry_counter.IMPORTS += 1
        VALUE = 41
        class Thing:
            answer = 42
        def make():
            return "made"
    """), encoding="utf-8")
    (tmp_path / "vlab_registry_counter.py").write_text("IMPORTS = 0\n", encoding="utf-8")
    (tmp_path / "vlab_registry_broken.py").write_text("import vlab_no_such_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in (MODULE, "vlab_registry_counter", "vlab_registry_broken"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield MODULE
    for name in (MODULE, "vlab_registry_counter", "vlab_registry_broken"):
        sys.modules.pop(name, None)


def imports() -> int:
    return int(sys.modules["vlab_registry_counter"].IMPORTS)  # written by the fixture, imported by the probe


def test_an_entry_is_imported_on_first_get_only_and_cached(probe: str) -> None:
    registry: Registry[object] = Registry("thing", {"value": f"{probe}:VALUE", "answer": f"{probe}:Thing.answer"})
    assert "value" in registry and "nope" not in registry and len(registry) == 2
    assert registry.names() == ["value", "answer"] and registry.target("value") == f"{probe}:VALUE"
    assert probe not in sys.modules  # listing, `in` and target() import nothing
    assert registry.get("value") == 41 and registry.get("answer") == 42  # a dotted attribute
    assert registry.get("value") == 41 and registry["value"] == 41
    assert imports() == 1


def test_objects_register_as_themselves_and_order_is_registration_order() -> None:
    registry: Registry[int] = Registry("number", {"zeta": 1, "alpha": 2})
    registry.register("mid", 3, description="the third")
    assert list(registry) == registry.names() == ["zeta", "alpha", "mid"]
    assert registry.get("mid") == 3 and registry.description("mid") == "the third"
    assert registry.description("zeta") == ""
    with pytest.raises(ValueError, match="already registered"):
        registry.register("mid", 4)
    registry.register("mid", 4, replace=True)
    assert registry.get("mid") == 4  # the cached object follows its entry


def test_a_patched_entry_of_a_shared_dict_is_seen(probe: str) -> None:
    entries = {"x": f"{probe}:VALUE"}
    registry: Registry[object] = Registry("thing", entries)
    assert registry.get("x") == 41
    entries["x"] = f"{probe}:make"  # as tests patch benchmarks.RUNTIMES
    assert callable(registry.get("x")) and registry.get("x")() == "made"  # type: ignore[operator]


def test_an_unknown_name_suggests_close_ones_or_lists_them() -> None:
    registry: Registry[int] = Registry("trainer", {"iql": 1, "cql": 2, "td3bc": 3})
    with pytest.raises(UnknownNameError, match=r"unknown trainer 'iqll'\. Did you mean 'iql'") as caught:
        registry.get("iqll")
    assert isinstance(caught.value, UserError) and isinstance(caught.value, KeyError)
    assert "Known: cql, iql, td3bc." in str(registry.unknown("zzzzz"))
    with pytest.raises(UnknownNameError):
        registry.target("zzzzz")


def test_a_prefix_shows_in_errors_but_not_in_matching() -> None:
    registry: Registry[int] = Registry("baseline agent", {"random": 1, "zero": 2}, prefix="baseline:")
    assert str(registry.unknown("randon")) == ("unknown baseline agent 'baseline:randon'. Did you mean "
                                               "'baseline:random'? (`vla-bench list` shows them all)")
    assert "Known: baseline:random, baseline:zero." in str(registry.unknown("qqqq"))


def test_a_bad_entry_names_itself(probe: str) -> None:
    registry: Registry[object] = Registry("runtime", {
        "no-module": "vlab_no_such_module:X", "no-attr": f"{probe}:NOPE", "bad-form": "vlab_no_colon",
        "deep": f"{probe}:Thing.nope", "broken": "vlab_registry_broken:X"})
    with pytest.raises(RegistryError, match=r"the runtime 'no-module' is registered as 'vlab_no_such_module:X', "
                                            r"which does not load: No module named 'vlab_no_such_module'"):
        registry.get("no-module")
    with pytest.raises(RegistryError, match=rf"'no-attr' is registered as '{probe}:NOPE', which does not load: "
                                            rf"'{probe}' has no attribute 'NOPE'"):
        registry.get("no-attr")
    with pytest.raises(RegistryError, match=r"not of the form 'package\.module:object'"):
        registry.get("bad-form")
    with pytest.raises(RegistryError, match="'Thing' has no attribute 'nope'"):
        registry.get("deep")
    # the module exists but a dependency of it is missing: that error, untouched (an uninstalled simulator)
    with pytest.raises(ModuleNotFoundError, match="vlab_no_such_dependency"):
        registry.get("broken")


def test_the_loaded_object_is_type_checked(probe: str) -> None:
    classes: Registry[type] = Registry("executor", {"thing": f"{probe}:Thing", "value": f"{probe}:VALUE"},
                                       instance_of=type)
    assert classes.get("thing").__name__ == "Thing"
    with pytest.raises(RegistryError, match=rf"the executor 'value' \(registered as '{probe}:VALUE'\) is a int, "
                                            r"not a type"):
        classes.get("value")
    either: Registry[object] = Registry("x", {"v": 1.5}, instance_of=(int, str))
    with pytest.raises(RegistryError, match="is a float, not a int or str"):
        either.get("v")


def test_targets_split_and_import() -> None:
    assert split_target("a.b:c.d") == ("a.b", "c.d")
    for bad in ("a.b", ":c", "a:", "a:b:c"):
        with pytest.raises(ValueError):
            split_target(bad)
    assert import_target("os.path:join") is __import__("os").path.join
