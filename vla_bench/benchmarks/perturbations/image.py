"""Perturbations of rendered images (uint8 HxWx3): brightness, colour jitter, Gaussian noise, cutout.

Colour jitter factors and the cutout square are drawn once per episode (a domain-randomised scene); the noise is
fresh in every frame (a sensor). All arithmetic is float32 with one final rounding to uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vla_bench.benchmarks.perturbations.rng import perturbation_rng
from vla_bench.spec.perturbation import PerturbationLevel

_GREY = 128.0
_LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
IMAGE_FIELDS = frozenset({"brightness", "color_jitter", "image_noise", "cutout"})


def _hue_matrix(turns: float) -> NDArray[np.float32]:
    """RGB -> RGB rotation of the hue by ``turns`` of a full circle (rotation about the grey axis in YIQ)."""
    angle = 2.0 * np.pi * turns
    to_yiq = np.asarray([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.asarray([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    hue: NDArray[np.float64] = np.linalg.inv(to_yiq) @ rotate @ to_yiq
    return hue.astype(np.float32)


@dataclass
class ImagePerturbation:
    """The per-episode state of a level's image perturbations; ``apply`` is called on every observation."""

    level: PerturbationLevel
    seed: int
    axis: str

    def __post_init__(self) -> None:
        jitter = self.level.color_jitter
        self._factors: tuple[float, float, float] | None = None
        self._hue: NDArray[np.float32] | None = None
        if jitter is not None:
            unit = perturbation_rng(self.seed, self.axis, "color_jitter").uniform(-1.0, 1.0, 4)
            self._factors = (1.0 + jitter.brightness * unit[0], 1.0 + jitter.contrast * unit[1],
                             1.0 + jitter.saturation * unit[2])
            self._hue = _hue_matrix(jitter.hue * unit[3]) if jitter.hue else None
        self._cutout_at = perturbation_rng(self.seed, self.axis, "cutout").random(2)
        self._noise = perturbation_rng(self.seed, self.axis, "image_noise")

    @property
    def active(self) -> bool:
        return bool(self.level.fields_set() & IMAGE_FIELDS)

    def apply(self, images: dict[str, NDArray[np.uint8]]) -> dict[str, NDArray[np.uint8]]:
        return {camera: self._one(images[camera]) for camera in sorted(images)}

    def _one(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        level = self.level
        pixels = image.astype(np.float32)
        if level.brightness is not None:
            pixels *= level.brightness
        if self._factors is not None:
            pixels = self._jitter(pixels)
        if level.image_noise:
            pixels += self._noise.normal(0.0, level.image_noise, pixels.shape).astype(np.float32)
        if level.cutout is not None:
            height, width = pixels.shape[:2]
            side = max(1, round(level.cutout * min(height, width)))
            top = int(self._cutout_at[0] * (height - side + 1))
            left = int(self._cutout_at[1] * (width - side + 1))
            pixels[top:top + side, left:left + side] = _GREY
        return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)

    def _jitter(self, pixels: NDArray[np.float32]) -> NDArray[np.float32]:
        assert self._factors is not None
        brightness, contrast, saturation = self._factors
        pixels = pixels * brightness
        mean = float((pixels @ _LUMA).mean())
        pixels = (pixels - mean) * contrast + mean
        grey = (pixels @ _LUMA)[..., None]
        pixels = (pixels - grey) * saturation + grey
        if self._hue is not None:
            pixels = pixels @ self._hue.T
        return pixels
