"""The random source and the image operations of the perturbation layer, without a simulator."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vla_bench.benchmarks.perturbations.control import ControlPerturbation
from vla_bench.benchmarks.perturbations.image import ImagePerturbation
from vla_bench.benchmarks.perturbations.rng import perturbation_rng
from vla_bench.spec.perturbation import ColorJitter, PerturbationLevel

IMAGE = np.random.default_rng(0).integers(40, 216, (64, 80, 3)).astype(np.uint8)


def test_draws_depend_only_on_seed_axis_and_purpose_in_any_process() -> None:
    here = perturbation_rng(123, "camera", "camera3").random(4).tolist()
    code = ("import json; from vla_bench.benchmarks.perturbations.rng import perturbation_rng; "
            "print(json.dumps(perturbation_rng(123, 'camera', 'camera3').random(4).tolist()))")
    there = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert here == there
    assert perturbation_rng(124, "camera", "camera3").random(4).tolist() != here
    assert perturbation_rng(123, "lighting", "camera3").random(4).tolist() != here


def _apply(level: PerturbationLevel, seed: int = 5) -> np.ndarray:
    return ImagePerturbation(level, seed, "axis").apply({"cam": IMAGE})["cam"]


def test_gaussian_noise_has_the_declared_sigma_and_no_bias() -> None:
    noisy = _apply(PerturbationLevel(image_noise=12.0)).astype(float)
    difference = noisy - IMAGE
    assert difference.std() == pytest.approx(12.0, rel=0.05) and abs(difference.mean()) < 0.5
    perturbation = ImagePerturbation(PerturbationLevel(image_noise=12.0), 5, "axis")
    first, second = perturbation.apply({"cam": IMAGE})["cam"], perturbation.apply({"cam": IMAGE})["cam"]
    assert not np.array_equal(first, second)  # fresh every frame
    assert np.array_equal(first, noisy)  # and the same sequence for the same episode


def test_brightness_and_colour_jitter_change_intensity_and_colour_per_episode() -> None:
    assert _apply(PerturbationLevel(brightness=0.68)).mean() == pytest.approx(0.68 * IMAGE.mean(), rel=0.01)
    jitter = PerturbationLevel(color_jitter=ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1))
    a, b = _apply(jitter, seed=1), _apply(jitter, seed=2)
    assert not np.array_equal(a, IMAGE) and not np.array_equal(a, b)
    assert np.array_equal(a, _apply(jitter, seed=1))


def test_cutout_greys_one_square_of_the_declared_side() -> None:
    out = _apply(PerturbationLevel(cutout=0.25))
    changed = np.any(out != IMAGE, axis=2)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    side = round(0.25 * 64)
    assert rows.ptp() + 1 <= side and cols.ptp() + 1 <= side
    block = out[rows[0]:rows[0] + side, cols[0]:cols[0] + side]
    assert (block == 128).all() and np.array_equal(out[~changed], IMAGE[~changed])


def test_action_delay_and_noise() -> None:
    low, high = -np.ones(2, np.float32), np.ones(2, np.float32)
    delay = ControlPerturbation(PerturbationLevel(action_delay=2), 0, "d", low, high)
    sent = [delay.action(np.full(2, float(i), np.float32)) for i in range(1, 5)]
    assert [float(a[0]) for a in sent] == [0.0, 0.0, 1.0, 2.0]
    noisy = ControlPerturbation(PerturbationLevel(action_noise=0.5), 0, "n", low, high)
    actions = np.stack([noisy.action(np.zeros(2, np.float32)) for _ in range(2000)])
    assert actions.std() == pytest.approx(0.5, rel=0.1) and actions.min() >= -1 and actions.max() <= 1
