"""How a standard observation is named on a policy wire, and back: key maps and their presets.

A map is a list of ``(source, wire key)`` pairs. A source is ``state``, ``instruction``, ``images.<camera>``,
``images.<i>`` (the i-th camera of the observation) or ``images.*`` (every camera; the wire key holds a
``*``). On a *nested* wire (vla-eval's) a ``/`` in the wire key is a level of nesting: ``images/agentview``
is ``{"images": {"agentview": ...}}``; elsewhere (openpi's ``observation/image``) it is part of the name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vla_bench.agents.gateway import RemotePolicyError
from vla_bench.spec import Observation
from vla_bench.spec.errors import UserError
from vla_bench.spec.registry import Registry


@dataclass(frozen=True)
class KeyMap:
    """How a standard observation is named on the wire (and back, on the serving side)."""

    name: str
    fields: tuple[tuple[str, str], ...] = ()  # (source, wire key); empty: the standard observation as is
    replan: int = 0  # default number of chunk actions executed per call (0: all)
    nested: bool = False  # '/' in a wire key nests maps (vla-eval's wire)
    strict: bool = True  # a source the observation lacks is an error (False: that key is left out)

    def to_wire(self, observation: Observation) -> dict[str, object]:
        if not self.fields:
            return dict(observation)
        images: dict[str, object] = dict(observation.get("images") or {})
        message: dict[str, object] = {}
        for source, key in self.fields:
            if source == "images.*":
                for camera, image in images.items():
                    message[key.replace("*", camera)] = image
                continue
            if self.strict or _present(observation, images, source):
                message[key] = _lookup(observation, images, source, key)
        return _nest(message) if self.nested else message

    def from_wire(self, message: Mapping[str, object]) -> Observation:
        """The standard observation from a message named by this map (what ``serve-policy --keys`` does)."""
        if not self.fields:
            return message  # type: ignore[return-value]
        if self.nested:
            message = _flatten(message)
        observation: dict[str, object] = {}
        images: dict[str, object] = {}
        for source, key in self.fields:
            if source == "images.*":
                prefix, _, suffix = key.partition("*")
                for wire_key, value in message.items():
                    if (isinstance(wire_key, str) and wire_key.startswith(prefix) and wire_key.endswith(suffix)
                            and len(wire_key) > len(prefix) + len(suffix)):
                        images[wire_key[len(prefix): len(wire_key) - len(suffix)]] = value
            elif key in message:
                if source.startswith("images."):
                    images[source.removeprefix("images.")] = message[key]  # images.<i> comes back named "<i>"
                else:
                    observation[source] = message[key]
        if images:
            observation["images"] = images
        return observation  # type: ignore[return-value]


def _nest(flat: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        level = out
        for part in parents:
            child = level.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"wire key {key!r} nests under {part!r}, which the key map also gives a value")
            level = child
        level[leaf] = value
    return out


def _flatten(message: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in message.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out


def _present(observation: Observation, images: Mapping[str, object], source: str) -> bool:
    if source in ("state", "instruction"):
        return source in observation
    camera = source.removeprefix("images.")
    return int(camera) < len(images) if camera.isdigit() else camera in images


def _lookup(observation: Observation, images: Mapping[str, object], source: str, key: str) -> object:
    if source in ("state", "instruction"):
        if source not in observation:
            raise RemotePolicyError(f"the observation has no {source!r} for the wire key {key!r} "
                                    f"(it has {sorted(observation)}); check the protocol's observation mode")
        return observation[source]  # type: ignore[literal-required]
    camera = source.removeprefix("images.")
    if camera.isdigit():
        names = list(images)
        if int(camera) >= len(names):
            raise RemotePolicyError(f"the observation has {len(names)} camera(s) {names}, none at position "
                                    f"{camera} for the wire key {key!r}")
        return images[names[int(camera)]]
    if camera not in images:
        raise RemotePolicyError(f"the observation has no camera {camera!r} for the wire key {key!r} "
                                f"(cameras: {sorted(images)})")
    return images[camera]


# openpi's wire (ws://): flat keys
PRESETS: Registry[KeyMap] = Registry("key preset", {
    "vla-bench": KeyMap("vla-bench"),
    "openpi-libero": KeyMap("openpi-libero", (
        ("images.0", "observation/image"), ("images.1", "observation/wrist_image"),
        ("state", "observation/state"), ("instruction", "prompt"),
    ), replan=5),
    "lerobot": KeyMap("lerobot", (
        ("state", "observation.state"), ("images.*", "observation.images.*"), ("instruction", "task"),
    )),
})

# vla-eval's wire (vlaeval://): its benchmarks send {"images": {camera: HWC uint8}, "task_description": str,
# "states": ...} (LIBERO) or "state" (the recommended key of vla_eval.types)
VLAEVAL_PRESETS: Registry[KeyMap] = Registry("key preset", {
    "vla-eval": KeyMap("vla-eval", (  # whatever the protocol observes: state-only, pixels, language
        ("images.*", "images/*"), ("state", "state"), ("instruction", "task_description"),
    ), nested=True, strict=False),
    "vla-eval-libero": KeyMap("vla-eval-libero", (
        ("images.0", "images/agentview"), ("images.1", "images/wrist"), ("state", "states"),
        ("instruction", "task_description"),
    ), nested=True),
    "vla-eval-libero-noproprio": KeyMap("vla-eval-libero-noproprio", (
        ("images.0", "images/agentview"), ("images.1", "images/wrist"), ("instruction", "task_description"),
    ), nested=True),
})


def parse_key_map(text: str, *, nested: bool = False) -> KeyMap:
    """A ``map=`` value: ``SRC:DST,SRC:DST``."""
    fields = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        source, sep, key = part.partition(":")
        valid = source in ("state", "instruction") or (source.startswith("images.") and len(source) > 7)
        if not sep or not key or not valid:
            raise UserError(f"bad key mapping {part!r} in map={text!r}: expected SRC:DST with SRC one of state, "
                            "instruction, images.<camera>, images.<i>, images.*")
        if source == "images.*" and "*" not in key:
            raise UserError(f"map={text!r}: images.* needs a '*' in its wire key, e.g. images.*:observation.images.*")
        fields.append((source, key))
    if not fields:
        raise UserError(f"map={text!r} maps nothing: expected SRC:DST,SRC:DST")
    return KeyMap(f"map={text}", tuple(fields), nested=nested)


def key_map(name: str, presets: Registry[KeyMap] | None = None) -> KeyMap:
    return (PRESETS if presets is None else presets).get(name)
