"""CALVIN's evaluation chains and start states, reimplemented (no CALVIN code is imported or copied).

What CALVIN does (mees/calvin @fa03f01, ``calvin_models/calvin_agent/evaluation/multistep_sequences.py``
``get_sequences`` and ``utils.py`` ``get_env_state_for_initial_condition``; REFERENCE.md 5.1), as facts:

1. The scene is abstracted to a symbolic state: ``led`` and ``lightbulb`` (0/1), ``slider`` (right/left),
   ``drawer`` (closed/open), the red, blue and pink blocks (table, slider_right, slider_left, and during
   planning also grasped, drawer, stacked_top, stacked_bottom) and ``grasped`` (0/1).
2. Start states: every combination, in the product order led, lightbulb, slider, drawer, red, blue, pink
   (values in the order listed above; ``grasped`` = 0), keeping those with one or two blocks on the table and
   at most one block on each side of the slider - 192 states.
3. The ``N`` chains are split over the start states with ``numpy.array_split`` sizes (the first ``N % 192``
   states get one more).
4. For start state ``i``: ``numpy.random.seed(i)``, then repeatedly draw 5 distinct task names with
   ``numpy.random.choice(TASK_ORDER, 5, replace=False)`` until enough are accepted. A draw is accepted when,
   applied in order from the start state, every task has exactly one applicable rule (:data:`RULES`: a
   precondition on the symbolic state and its effect) and no two tasks share a category
   (:data:`CATEGORIES`).
5. The (start state, chain) pairs are listed state by state and shuffled with ``numpy.random.seed(0)``;
   ``numpy.random.shuffle``.
6. The physical start of a chain: the robot's neutral pose (:data:`NEUTRAL_ROBOT_OBS`) and a scene vector
   built from the symbolic state; blocks on the table take one of two table spots, the spots' order and each
   block's yaw are drawn from ``numpy.random.seed(h)`` where ``h`` is the FNV-1 32-bit hash (offset basis 0,
   as pyhash's ``fnv1_32``) of ``str(state.values())`` encoded as UTF-16-LE (PLATFORM.md).

The legacy ``numpy.random`` calls are kept exactly (``RandomState`` is the legacy global generator), since
the chains must be the ones CALVIN evaluates on. Generating 1000 chains takes about a minute (CALVIN:
86 s on 2 cores), so the result ships as ``data/chains-1000.json`` and :func:`calvin_chains` only
recomputes it for other sizes; ``tests/benchmarks/test_calvin.py`` checks the file against a recomputation.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.generated_chain import GeneratedChain
from vla_bench.spec import ChainSpec

StateValue = int | str  # a start-state variable's value: 0/1 (led, lightbulb, grasped) or a place
SymbolicState = dict[str, StateValue]
# (precondition, effect); a list value = any of
Rule = tuple[Mapping[str, StateValue | list[str]], Mapping[str, StateValue]]
COLOURS = ("red", "blue", "pink")
SLIDER_SPOTS = ("slider_right", "slider_left")
# the start-state variables and their values, in CALVIN's product order (step 2 of the module docstring)
START_VALUES: tuple[tuple[str, tuple[StateValue, ...]], ...] = (
    ("led", (0, 1)), ("lightbulb", (0, 1)), ("slider", ("right", "left")), ("drawer", ("closed", "open")),
    ("red_block", ("table", *SLIDER_SPOTS)), ("blue_block", ("table", *SLIDER_SPOTS)),
    ("pink_block", ("table", *SLIDER_SPOTS)), ("grasped", (0,)),
)


def _block(colour: str) -> str:
    return f"{colour}_block"


def _rules() -> dict[str, list[Rule]]:
    """The 34 tasks' symbolic rules, in CALVIN's task order (the order ``numpy.random.choice`` draws from)."""
    free = {"grasped": 0}
    rules: dict[str, list[Rule]] = {}
    for verb in ("rotate", "push"):
        for colour in COLOURS:
            for side in ("right", "left"):  # the block stays on the table
                block = _block(colour)
                rules[f"{verb}_{colour}_block_{side}"] = [({block: "table", **free}, {block: "table"})]
    rules["move_slider_left"] = [({"slider": "right", **free}, {"slider": "left"})]
    rules["move_slider_right"] = [({"slider": "left", **free}, {"slider": "right"})]
    rules["open_drawer"] = [({"drawer": "closed", **free}, {"drawer": "open"})]
    rules["close_drawer"] = [({"drawer": "open", **free}, {"drawer": "closed"})]
    lifted = {"grasped": 1}
    for colour in COLOURS:
        block = _block(colour)
        rules[f"lift_{colour}_block_table"] = [({block: "table", **free}, {block: "grasped", **lifted})]
        # a block in the slider cabinet is reachable when the door is on the other side
        rules[f"lift_{colour}_block_slider"] = [
            ({block: "slider_left", "slider": "right", **free}, {block: "grasped", **lifted}),
            ({block: "slider_right", "slider": "left", **free}, {block: "grasped", **lifted}),
        ]
        rules[f"lift_{colour}_block_drawer"] = [({block: "drawer", "drawer": "open", **free},
                                                 {block: "grasped", **lifted})]
    rules["place_in_slider"] = [
        ({_block(c): "grasped", "slider": side, **lifted}, {_block(c): f"slider_{side}", **free})
        for c in COLOURS for side in ("right", "left")
    ]
    rules["place_in_drawer"] = [({_block(c): "grasped", "drawer": "open", **lifted}, {_block(c): "drawer", **free})
                                for c in COLOURS]
    pairs = [(top, bottom) for top in COLOURS for bottom in COLOURS if top != bottom]
    rules["stack_block"] = [({_block(t): "grasped", _block(b): "table", **lifted},
                             {_block(t): "stacked_top", _block(b): "stacked_bottom", **free}) for t, b in pairs]
    rules["unstack_block"] = [({_block(t): "stacked_top", _block(b): "stacked_bottom", **free},
                               {_block(t): "table", _block(b): "table"}) for t, b in pairs]
    for thing in ("lightbulb", "led"):
        rules[f"turn_on_{thing}"] = [({thing: 0, **free}, {thing: 1})]
        rules[f"turn_off_{thing}"] = [({thing: 1, **free}, {thing: 0})]
    rules["push_into_drawer"] = [
        ({_block(c): "table", **{_block(o): list(SLIDER_SPOTS) for o in COLOURS if o != c}, "drawer": "open", **free},
         {_block(c): "drawer", **free})
        for c in COLOURS
    ]
    return rules


RULES = _rules()
TASK_ORDER = tuple(RULES)


def _categories() -> dict[str, int]:
    """Tasks of one category never share a chain (rotating and pushing blocks are one category)."""
    groups = [
        [f"{v}_{c}_block_{s}" for v in ("rotate", "push") for c in COLOURS for s in ("right", "left")],
        ["move_slider_left", "move_slider_right"], ["open_drawer", "close_drawer"],
        [f"lift_{c}_block_table" for c in COLOURS], [f"lift_{c}_block_slider" for c in COLOURS],
        [f"lift_{c}_block_drawer" for c in COLOURS], ["place_in_slider", "place_in_drawer"],
        ["turn_on_lightbulb", "turn_off_lightbulb", "turn_on_led", "turn_off_led"], ["push_into_drawer"],
        ["stack_block"], ["unstack_block"],
    ]
    return {task: number for number, group in enumerate(groups, start=1) for task in group}


CATEGORIES = _categories()


def _holds(state: Mapping[str, StateValue], precondition: Mapping[str, StateValue | list[str]]) -> bool:
    return all(state[key] in value if isinstance(value, list) else state[key] == value
               for key, value in precondition.items())


def successors(state: SymbolicState, task: str) -> list[SymbolicState]:
    """The states ``task`` can lead to from ``state``: one per applicable rule."""
    return [{**state, **effect} for precondition, effect in RULES[task] if _holds(state, precondition)]


def feasible(state: SymbolicState, chain: tuple[str, ...]) -> bool:
    """Every task of ``chain`` applies unambiguously in turn, and no two share a category."""
    for task in chain:
        following = successors(state, task)
        if len(following) != 1:
            return False
        state = following[0]
    return len({CATEGORIES[task] for task in chain}) == len(chain)


def start_states() -> list[SymbolicState]:
    keys = [key for key, _ in START_VALUES]
    states = []
    for values in itertools.product(*(options for _, options in START_VALUES)):
        if values.count("table") in (1, 2) and all(values.count(spot) < 2 for spot in SLIDER_SPOTS):
            states.append(dict(zip(keys, values, strict=True)))
    return states


def _chains_for_state(state: SymbolicState, count: int, seed: int, length: int) -> Iterator[tuple[str, ...]]:
    rng = np.random.RandomState(seed)
    found = 0
    while found < count:
        draw = tuple(TASK_ORDER[int(k)] for k in rng.choice(len(TASK_ORDER), size=length, replace=False))
        if feasible(state, draw):
            found += 1
            yield draw


def calvin_sequences(n_chains: int, length: int = 5, seed: int = 0) -> list[tuple[SymbolicState, tuple[str, ...]]]:
    """CALVIN's ``get_sequences(n_chains)``: (start state, chain) pairs in evaluation order."""
    states = start_states()
    counts = [len(part) for part in np.array_split(np.arange(n_chains), len(states))]
    pairs = [(state, chain) for index, (state, count) in enumerate(zip(states, counts, strict=True))
             for chain in _chains_for_state(state, count, index, length)]
    order = list(range(len(pairs)))
    np.random.RandomState(seed).shuffle(order)  # the same swaps as shuffling the pairs themselves
    return [pairs[k] for k in order]


CACHED = {(1000, 5, 0): "chains-1000.json"}


def calvin_chains(spec: ChainSpec) -> list[GeneratedChain]:
    """The ``calvin_multistep`` chain generator (see :mod:`vla_bench.benchmarks.chain`)."""
    name = CACHED.get((spec.n_chains, spec.length, spec.generator_seed))
    if name is not None:
        data = json.loads(resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8"))
        return [GeneratedChain(tuple(item["subtasks"]), dict(item["start"])) for item in data]
    return [GeneratedChain(chain, state)
            for state, chain in calvin_sequences(spec.n_chains, spec.length, spec.generator_seed)]


# ----------------------------------------------------------------------------------- physical start state
FNV_PRIME_32 = 16777619
# utils.py get_env_state_for_initial_condition: the neutral robot state (tcp pos 3, tcp euler 3, gripper
# width 1, arm joints 7, gripper action 1)
NEUTRAL_ROBOT_OBS = (0.02586889, -0.2313129, 0.5712808, 3.09045411, -0.02908596, 1.50013585, 0.07999963,
                     -1.21779124, 1.03987629, 2.11978254, -2.34205014, -0.87015899, 1.64119093, 0.55344928, 1.0)
BLOCK_SLIDER_LEFT = (-2.40851662e-01, 9.24044687e-02, 4.60990009e-01)
BLOCK_SLIDER_RIGHT = (7.03416330e-02, 9.24044687e-02, 4.60990009e-01)
BLOCK_TABLE_SPOTS = ((5.00000896e-02, -1.20000177e-01, 4.59990009e-01),
                     (2.29995412e-01, -1.19995140e-01, 4.59990010e-01))
BLOCK_YAW_RANGE = (math.pi / 2 - math.pi / 8, math.pi / 2 + math.pi / 8)
SLIDER_LEFT_POSITION, DRAWER_OPEN_POSITION, LIGHTBULB_ON_SWITCH = 0.28, 0.22, 0.088


def fnv1_32(data: bytes) -> int:
    """FNV-1 (multiply, then xor) over 32 bits, starting from 0 as pyhash's ``fnv1_32`` does."""
    value = 0
    for byte in data:
        value = ((value * FNV_PRIME_32) & 0xFFFFFFFF) ^ byte
    return value


def state_seed(state: Mapping[str, StateValue]) -> int:
    # CALVIN hashes str(state.values()) of its dict, whose keys are in START_VALUES order:
    # "dict_values([0, 1, 'right', 'closed', 'table', 'slider_left', 'table', 0])"
    text = "dict_values([" + ", ".join(repr(state[key]) for key, _ in START_VALUES) + "])"
    return fnv1_32(text.encode("utf-16-le"))


def start_observation(state: Mapping[str, StateValue]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(robot_obs[15], scene_obs[24])`` to reset CALVIN's environment to the chain's start (step 6)."""
    rng = np.random.RandomState(state_seed(state))
    spots = [np.array(spot) for spot in BLOCK_TABLE_SPOTS]
    rng.shuffle(spots)
    scene = np.zeros(24)
    scene[0] = SLIDER_LEFT_POSITION if state["slider"] == "left" else 0.0
    scene[1] = DRAWER_OPEN_POSITION if state["drawer"] == "open" else 0.0
    scene[3] = LIGHTBULB_ON_SWITCH if state["lightbulb"] == 1 else 0.0
    scene[4], scene[5] = state["lightbulb"], state["led"]
    where = {"slider_right": np.array(BLOCK_SLIDER_RIGHT), "slider_left": np.array(BLOCK_SLIDER_LEFT)}
    # table blocks: red takes the first spot; blue the second if red is on the table, else the first;
    # pink the second. Each block's yaw is drawn in red, blue, pink order whatever its place.
    table_spot = {"red_block": 0, "blue_block": 1 if state["red_block"] == "table" else 0, "pink_block": 1}
    for offset, block in zip((6, 12, 18), ("red_block", "blue_block", "pink_block"), strict=True):
        place = state[block]
        in_slider = isinstance(place, str) and place in where
        scene[offset:offset + 3] = where[str(place)] if in_slider else spots[table_spot[block]]
        scene[offset + 5] = rng.uniform(*BLOCK_YAW_RANGE)
    return np.array(NEUTRAL_ROBOT_OBS), scene
