"""Where an image's pixels lie in the frame of the structure that made its exit wave.

Arrays index ``(x, y)`` as in abTEM: ``image[ix, iy]`` samples the position
``(x0 + ix·s, y0 + iy·s)`` [Å], with ``(x0, y0)`` the :attr:`ImageGeometry.origin`
and ``s`` the :attr:`ImageGeometry.sampling`. An exit wave of shape ``(Nx, Ny)``
at sampling ``ws`` samples ``(ix·ws, iy·ws)`` and is periodic with period
``(Nx·ws, Ny·ws)`` (the multislice cell). Images and labels made from one wave
for one microscope draw share one :class:`ImageGeometry`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._random import keyword_rng
from ..errors import TemnnError

__all__ = ["ImageGeometry", "choose_geometry"]


@dataclass(frozen=True)
class ImageGeometry:
    """Pixel grid of one image in the cell frame of its structure.

    Attributes
    ----------
    sampling : float
        Image pixel size [Å/pixel].
    origin : tuple[float, float]
        Position (x, y) of pixel (0, 0) [Å].
    shape : tuple[int, int]
        Number of pixels (nx, ny).

    Examples
    --------
    >>> g = ImageGeometry(sampling=0.1, origin=(1.0, 2.0), shape=(4, 3))
    >>> g.positions_to_pixels([[1.2, 2.1]])
    array([[2., 1.]])
    """

    sampling: float
    origin: tuple[float, float]
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        if not (np.isfinite(self.sampling) and self.sampling > 0):
            raise TemnnError(f"ImageGeometry: 'sampling' must be a positive number in Å/pixel, got {self.sampling!r}")
        if len(self.shape) != 2 or any(int(n) != n or n < 1 for n in self.shape):
            raise TemnnError(f"ImageGeometry: 'shape' must be (nx, ny) positive integers, got {self.shape!r}")
        object.__setattr__(self, "sampling", float(self.sampling))
        object.__setattr__(self, "origin", (float(self.origin[0]), float(self.origin[1])))
        object.__setattr__(self, "shape", (int(self.shape[0]), int(self.shape[1])))

    @property
    def extent(self) -> tuple[float, float]:
        """Field of view (nx·s, ny·s) [Å]."""
        return (self.shape[0] * self.sampling, self.shape[1] * self.sampling)

    def positions_to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Convert positions (x, y) [Å] to fractional pixel indices (ix, iy).

        Parameters
        ----------
        xy : array_like, shape (N, 2)
            Positions in the cell frame [Å].

        Returns
        -------
        numpy.ndarray, shape (N, 2)
            Fractional pixel indices; integer values are pixel centres.
        """
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return (xy - np.asarray(self.origin)) / self.sampling

    def pixel_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the pixel rows and columns [Å].

        Returns
        -------
        x : numpy.ndarray, shape (nx,)
            x of pixel ``(ix, ·)`` [Å].
        y : numpy.ndarray, shape (ny,)
            y of pixel ``(·, iy)`` [Å].
        """
        x = self.origin[0] + self.sampling * np.arange(self.shape[0])
        y = self.origin[1] + self.sampling * np.arange(self.shape[1])
        return x, y


@keyword_rng(4)
def choose_geometry(
    wave_shape: tuple[int, int],
    wave_sampling: float,
    sampling: float,
    image_size: tuple[int, int],
    *,
    rng: np.random.Generator | None = None,
) -> ImageGeometry:
    """Place an image of ``image_size`` pixels at ``sampling`` on an exit wave.

    The image is a crop of the wave's field: centred when ``rng`` is ``None``,
    otherwise placed uniformly at random wherever it fits inside the field (a
    translation augmentation drawn from the sample's own generator). Along an
    axis where the image is larger than the wave's field it is centred, and the
    pixels outside the multislice cell are vacuum (see :func:`temnn.simulate.images.resample`);
    a :class:`UserWarning` says so, because a network trained on such margins
    learns from empty vacuum.

    Parameters
    ----------
    wave_shape : tuple[int, int]
        Exit-wave grid (Nx, Ny) [pixels].
    wave_sampling : float
        Exit-wave sampling [Å/pixel].
    sampling : float
        Image sampling [Å/pixel].
    image_size : tuple[int, int]
        Image grid (nx, ny) [pixels].
    rng : numpy.random.Generator, optional
        Generator for a random crop position; ``None`` centres the image.

    Returns
    -------
    ImageGeometry
    """
    if not (np.isfinite(wave_sampling) and wave_sampling > 0):
        raise TemnnError(f"wave sampling must be a positive number in Å/pixel, got {wave_sampling!r}")
    origin = []
    for axis, (n_wave, n_image) in enumerate(zip(wave_shape, image_size)):
        # Span between the first and the last pixel position of wave and image.
        free = (n_wave - 1) * wave_sampling - (n_image - 1) * sampling
        if free >= 0:
            origin.append(free * rng.random() if rng is not None else free / 2)
        else:
            warnings.warn(
                f"image axis {'xy'[axis]}: {n_image} pixels × {sampling:g} Å = {n_image * sampling:g} Å is larger "
                f"than the exit wave ({n_wave} × {wave_sampling:g} Å = {n_wave * wave_sampling:g} Å); "
                "the margin is padded with vacuum (intensity 1). Use a smaller 'image_size' or a larger cell.",
                UserWarning,
                stacklevel=2,
            )
            origin.append(free / 2)
    return ImageGeometry(
        sampling=sampling, origin=(origin[0], origin[1]), shape=(int(image_size[0]), int(image_size[1]))
    )
