"""One training image from its exit wave and ``(seed, index, epoch)``: draw, label, form.

This module is the single place where an image of the images stage is made, for both
paths that make them:

- ``temnn images`` (:mod:`temnn.workflows.images`) writes image epochs to disk, one
  sample at a time;
- on-the-fly training (:mod:`temnn.nn.onthefly`) draws and labels in the loader
  workers and forms a whole batch on the training device every epoch.

Image ``(index, epoch)`` draws everything from
``temnn._random.sample_rng(seed, index, epoch, stage="images")``, in this order: the
microscope (:func:`~temnn.simulate.draw.draw_microscope`), the crop position
(:func:`~temnn.simulate.geometry.choose_geometry`) and the seed of the torch generator of
its detector noise. :func:`synthesise` forms the noise-free images of all waves that
share a native grid in one :func:`~temnn.simulate.images.form_images` call and then
records each image on the detector (:func:`~temnn.simulate.detector.detect`) with its
own generator, so a sample's noise does not depend on the other samples of its batch.
On a CPU a batch therefore gives the images that ``temnn images`` stores for the same
``(seed, index, epoch)``, to float32 round-off of the batched Fourier sums (a batch may
need a finer intensity grid and a wider band than one sample); a CUDA generator draws
other (equally reproducible) noise than a CPU generator of the same seed.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .._random import sample_rng
from ..errors import TemnnError
from ..parameters import Parameters
from .detector import detect
from .draw import MicroscopeParameters, draw_microscope
from .geometry import ImageGeometry, choose_geometry
from .images import form_images

__all__ = ["ImageDraw", "draw_image", "synthesise", "check_sampling"]


@dataclass(frozen=True)
class ImageDraw:
    """Everything random about one image ``(index, epoch)``.

    Attributes
    ----------
    microscope : MicroscopeParameters
        The drawn microscope, optics and detector.
    geometry : ImageGeometry
        The image's pixel grid in the cell frame of its exit wave [Å].
    noise_seed : int
        Seed of the torch generator of the image's detector noise.
    """

    microscope: MicroscopeParameters
    geometry: ImageGeometry
    noise_seed: int


def draw_image(
    parameters: Parameters,
    index: int,
    epoch: int,
    *,
    wave_shape: tuple[int, int],
    wave_sampling: tuple[float, float],
    energy: float,
) -> ImageDraw:
    """Draw the microscope, crop and noise seed of image ``(index, epoch)``.

    Parameters
    ----------
    parameters : temnn.Parameters
        Ranges, image size and ``seed`` of the image set.
    index : int
        Sample (exit wave) number.
    epoch : int
        Image epoch.
    wave_shape : tuple[int, int]
        Exit-wave grid (Nx, Ny) [pixels].
    wave_sampling : tuple[float, float]
        Exit-wave sampling (sx, sy) [Å/pixel].
    energy : float
        Beam energy of the exit wave [eV].

    Returns
    -------
    ImageDraw
        The same for the same ``(parameters.seed, index, epoch)``, whoever asks.
    """
    rng = sample_rng(parameters.seed, index, epoch, stage="images")
    micro = draw_microscope(parameters, rng=rng, energy=energy)
    with warnings.catch_warnings():
        # temnn.io.samples.check_dataset warns once for the whole set when images reach past the cell.
        warnings.simplefilter("ignore", UserWarning)
        # The smaller of the two wave samplings keeps a crop inside the cell on both axes.
        geometry = choose_geometry(wave_shape, min(wave_sampling), micro.sampling, parameters.image_size, rng=rng)
    return ImageDraw(microscope=micro, geometry=geometry, noise_seed=int(rng.integers(2**63)))


def synthesise(
    waves: Sequence[torch.Tensor | np.ndarray],
    wave_sampling: Sequence[tuple[float, float]],
    draws: Sequence[ImageDraw],
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Form the detected images of a batch of exit waves on one device.

    Waves that share a native grid (shape, sampling and energy) go through one
    :func:`~temnn.simulate.images.form_images` call; each image then gets its detector
    noise from a generator seeded with its own :attr:`ImageDraw.noise_seed`.

    Parameters
    ----------
    waves : sequence of complex (Nx, Ny) or (K, Nx, Ny) tensors or arrays, length B
        Exit waves, vacuum amplitude 1, or the K waves of a sample's frozen-phonon
        configurations (their intensities are averaged); grids may differ between samples.
    wave_sampling : sequence of (float, float), length B
        Sampling (sx, sy) of each wave [Å/pixel].
    draws : sequence of ImageDraw, length B
        Each image's draw (:func:`draw_image`); all of one image shape and focal-series length.
    device : torch.device or str, optional
        Where the images are formed (default: the first wave's device).

    Returns
    -------
    torch.Tensor, float32, shape (B, C, nx, ny)
        Images in the order of ``waves``, vacuum mean 1, on ``device``.

    Examples
    --------
    >>> import numpy as np
    >>> from temnn import Parameters
    >>> p = Parameters(label="Mask", image_size=(16, 16), sampling=(0.1, 0.1), num_classes=2, noise=None)
    >>> vacuum = np.ones((32, 32), np.complex64)
    >>> draw = draw_image(p, 0, 0, wave_shape=(32, 32), wave_sampling=(0.1, 0.1), energy=300e3)
    >>> images = synthesise([vacuum], [(0.1, 0.1)], [draw])
    >>> tuple(images.shape), round(float(images.mean()), 4)
    ((1, 1, 16, 16), 1.0)
    """
    if not (len(waves) == len(wave_sampling) == len(draws)) or not draws:
        raise TemnnError(
            f"synthesise(): give as many waves, samplings and draws (at least one), "
            f"got {len(waves)}, {len(wave_sampling)} and {len(draws)}"
        )
    tensors = [w if isinstance(w, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(w)) for w in waves]
    device = torch.device(device) if device is not None else tensors[0].device
    groups: dict[tuple[Any, ...], list[int]] = {}
    for b, (wave, sampling, draw) in enumerate(zip(tensors, wave_sampling, draws)):
        key = (tuple(wave.shape), tuple(float(s) for s in sampling), draw.microscope.energy)
        groups.setdefault(key, []).append(b)
    out: list[torch.Tensor] = [torch.empty(0)] * len(draws)
    for (_, sampling, _), members in groups.items():
        stack = torch.stack([tensors[b] for b in members]).to(device=device, dtype=torch.complex64, non_blocking=True)
        micro = [draws[b].microscope for b in members]
        # Detector noise comes per image below, each from its own generator.
        clean = [dataclasses.replace(m, dose=None, mtf=None, readout=None) for m in micro]
        images = form_images(stack, sampling, clean, [draws[b].geometry for b in members])
        for row, (b, m) in enumerate(zip(members, micro)):
            out[b] = _detect_one(images[row : row + 1], draws[b], m)[0]
    return torch.stack(out)


def _detect_one(images: torch.Tensor, draw: ImageDraw, micro: MicroscopeParameters) -> torch.Tensor:
    """Record one sample's (1, C, nx, ny) images with its own noise generator."""
    if micro.dose is None and micro.mtf is None:
        return images
    generator = torch.Generator(device=images.device).manual_seed(draw.noise_seed)
    return detect(
        images,
        [draw.geometry.sampling],
        dose=None if micro.dose is None else [micro.dose],
        mtf=None if micro.mtf is None else [micro.mtf],
        readout=None if micro.readout is None else [micro.readout],
        generator=generator,
    )


def check_sampling(parameters: Parameters, wave_sampling: tuple[float, float], path: str | Path) -> None:
    """Refuse an image sampling range that reaches finer than an exit wave's sampling.

    Parameters
    ----------
    parameters : temnn.Parameters
        The parameters file (``sampling`` range [Å/pixel]).
    wave_sampling : tuple[float, float]
        The exit wave's sampling (sx, sy) [Å/pixel].
    path : path
        The wave file, for the message.

    Raises
    ------
    TemnnError
        ``sampling[0]`` is below the coarser wave sampling.
    """
    coarsest = max(wave_sampling)
    p = parameters
    if p.sampling[0] < coarsest * (1 - 1e-9):
        raise TemnnError(
            f"{p.source or 'parameters'}: 'sampling' [{p.sampling[0]:g}, {p.sampling[1]:g}] Å/pixel reaches finer "
            f"than the exit wave's {coarsest:.4g} Å/pixel ({path}); an image cannot hold detail the wave lacks. "
            f"Raise 'sampling' to ≥ {coarsest:.4g} or simulate the waves at a finer sampling"
        )
