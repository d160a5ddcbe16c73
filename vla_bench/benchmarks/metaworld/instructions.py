"""One natural-language instruction per Meta-World task, in the imperative style of VLA datasets.

Written for vla-bench from what each task's success check measures (``metaworld/envs/sawyer_*_v3.py``,
``evaluate_state``) and how its scene looks from the ``corner4`` camera; colours are named only where the
scene has them (bin-picking's red and blue bins). They are copied into every protocol's task entries, so
the protocol hash covers them; ``tests/benchmarks/test_metaworld.py`` checks that the two agree.
"""

from __future__ import annotations

# keys: metaworld v3 environment names (metaworld.env_dict.ALL_V3_ENVIRONMENTS), in that dict's order
INSTRUCTIONS: dict[str, str] = {
    "assembly-v3": "Pick up the nut and fit it onto the peg.",
    "basketball-v3": "Pick up the basketball and dunk it into the hoop.",
    "bin-picking-v3": "Pick up the puck from the red bin and place it in the blue bin.",
    "box-close-v3": "Pick up the lid and put it on the box to close it.",
    "button-press-topdown-v3": "Press the button down from above.",
    "button-press-topdown-wall-v3": "Reach past the wall and press the button down from above.",
    "button-press-v3": "Push the button in from the front.",
    "button-press-wall-v3": "Reach around the wall and push the button in.",
    "coffee-button-v3": "Press the button on the coffee machine.",
    "coffee-pull-v3": "Pull the mug out from under the coffee machine to the goal.",
    "coffee-push-v3": "Push the mug under the coffee machine.",
    "dial-turn-v3": "Turn the dial half a turn.",
    "disassemble-v3": "Grab the nut and lift it off the peg.",
    "door-close-v3": "Swing the door shut.",
    "door-lock-v3": "Turn the knob on the door to lock it.",
    "door-open-v3": "Pull the door open by its handle.",
    "door-unlock-v3": "Turn the knob on the door to unlock it.",
    "hand-insert-v3": "Put the gripper down into the hole in the table.",
    "drawer-close-v3": "Push the drawer closed.",
    "drawer-open-v3": "Pull the drawer open.",
    "faucet-open-v3": "Turn on the faucet by rotating its handle counter-clockwise.",
    "faucet-close-v3": "Turn off the faucet by rotating its handle clockwise.",
    "hammer-v3": "Pick up the hammer and drive the nail into the block.",
    "handle-press-side-v3": "Press the handle down from the side.",
    "handle-press-v3": "Press the handle down.",
    "handle-pull-side-v3": "Pull the handle up from the side.",
    "handle-pull-v3": "Pull the handle up.",
    "lever-pull-v3": "Pull the lever up.",
    "pick-place-wall-v3": "Pick up the puck, lift it over the wall and place it at the goal.",
    "pick-out-of-hole-v3": "Pick the puck out of the hole and lift it to the goal.",
    "pick-place-v3": "Pick up the puck and place it at the goal.",
    "plate-slide-v3": "Slide the plate into the cabinet.",
    "plate-slide-side-v3": "Slide the plate sideways into the cabinet.",
    "plate-slide-back-v3": "Slide the plate back out of the cabinet.",
    "plate-slide-back-side-v3": "Slide the plate sideways out of the cabinet.",
    "peg-insert-side-v3": "Pick up the peg and insert it sideways into the hole.",
    "peg-unplug-side-v3": "Pull the peg sideways out of its socket.",
    "soccer-v3": "Push the soccer ball into the goal.",
    "stick-push-v3": "Pick up the stick and use it to push the container to the goal.",
    "stick-pull-v3": "Pick up the stick and use it to pull the container to the goal.",
    "push-v3": "Push the puck to the goal.",
    "push-wall-v3": "Push the puck around the wall to the goal.",
    "push-back-v3": "Pull the puck back to the goal.",
    "reach-v3": "Move the gripper to the goal.",
    "reach-wall-v3": "Move the gripper over the wall to the goal.",
    "shelf-place-v3": "Pick up the puck and place it on the shelf.",
    "sweep-into-v3": "Sweep the puck into the hole.",
    "sweep-v3": "Sweep the puck off the edge of the table.",
    "window-open-v3": "Slide the window open.",
    "window-close-v3": "Slide the window closed.",
}
