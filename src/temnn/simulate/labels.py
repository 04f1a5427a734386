"""Training labels on the pixel grid of an image (thesis section 3.2, DESIGN.md 'Labels and tasks').

Every label is a float32 array ``(K, nx, ny)`` on the same :class:`~temnn.simulate.geometry.ImageGeometry`
as the image it belongs to, so label pixel ``(ix, iy)`` lies at the same position
``origin + (ix, iy)·sampling`` [Å] as image pixel ``(ix, iy)``.

- **Mask**: the convex hull of the object's column sites (1 channel, or 2 with the
  background channel ``1 - mask``).
- **Disk**: one channel per site class with a disc of diameter ``spotsize`` [Å] at each
  site, plus a background channel ``1 - clip(sum of the others, 0, 1)`` with ``null_class``.
- **Gaussian**: like Disk, with a Gaussian of full width at half maximum ``spotsize`` [Å]
  and peak 1 at each site; overlapping Gaussians of one class add and are clipped to 1.
- **Exitwave**: the real and imaginary part of the exit wave resampled to the image grid,
  optionally smoothed by a Gaussian of σ = ``exitwave_filter`` [Å] (publication I used
  15 pm to drop the fine ring structure around the nuclei).

The background channel, when present, is always the last channel.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..errors import TemnnError
from ..parameters import Parameters
from .geometry import ImageGeometry

__all__ = [
    "mask_label",
    "disk_label",
    "gaussian_label",
    "exitwave_label",
    "make_label",
    "site_channels",
    "has_background",
    "check_label_classes",
    "resolve_mask_classes",
    "FWHM_PER_SIGMA",
]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))
"""Full width at half maximum of a Gaussian in units of its σ (≈ 2.3548)."""

MASK_CLASS_NAME = "particle"
"""Class name that outlines the object for a Mask label when the sites file names no mask classes."""


# ----------------------------------------------------------------------------- classes
def site_channels(parameters: Parameters) -> int:
    """Number of per-class channels of a Disk or Gaussian label (``num_classes`` minus the background).

    Parameters
    ----------
    parameters : temnn.Parameters
        The parameters file.

    Returns
    -------
    int
        ``num_classes - 1`` with ``null_class``, else ``num_classes``.
    """
    return parameters.num_classes - int(parameters.null_class)


def has_background(parameters: Parameters) -> bool:
    """True when the last label channel is the background (Mask with 2 channels, Disk/Gaussian with ``null_class``)."""
    if parameters.label == "Mask":
        return parameters.num_classes == 2
    return parameters.label != "Exitwave" and parameters.null_class


def check_label_classes(parameters: Parameters, class_names: Sequence[str], *, source: str = "sites") -> None:
    """Check that a site-based label fits the classes stored with the sites.

    Parameters
    ----------
    parameters : temnn.Parameters
        The parameters file (``label``, ``num_classes``, ``null_class``).
    class_names : sequence of str
        Names of the site classes stored by the structures stage.
    source : str
        Where the class names came from, for the error message (a file name).

    Raises
    ------
    TemnnError
        A Disk or Gaussian label over sites without classes, or ``num_classes`` not equal to the
        number of stored classes plus the background channel.
    """
    if parameters.label not in ("Disk", "Gaussian"):
        return
    where = parameters.source or "parameters"
    n = len(class_names)
    if n == 0:
        raise TemnnError(
            f"{where}: a '{parameters.label}' label needs classified sites, but {source} stores no site classes; "
            "regenerate the structures with classes or choose 'label': \"Mask\" or \"Exitwave\""
        )
    expected = n + int(parameters.null_class)
    if parameters.num_classes != expected:
        background = " + 1 background ('null_class': true)" if parameters.null_class else ""
        raise TemnnError(
            f"{where}: 'num_classes' is {parameters.num_classes}, but {source} has {n} site classes "
            f"{list(class_names)}{background}; set 'num_classes' to {expected}"
        )


def resolve_mask_classes(class_names: Sequence[str], mask_classes: Sequence[int] | None = None) -> tuple[int, ...]:
    """Classes whose sites outline the object of a Mask label.

    Parameters
    ----------
    class_names : sequence of str
        Names of the site classes.
    mask_classes : sequence of int, optional
        Classes stored by the structures stage (``Sample.mask_classes``). When ``None``, the
        class named ``"particle"`` if there is one, else every class.

    Returns
    -------
    tuple of int
        Class indices.
    """
    if mask_classes is not None:
        return tuple(int(c) for c in mask_classes)
    if MASK_CLASS_NAME in class_names:
        return (list(class_names).index(MASK_CLASS_NAME),)
    return tuple(range(len(class_names)))


# ------------------------------------------------------------------------------ labels
def mask_label(
    sites: np.ndarray,
    classes: np.ndarray,
    geometry: ImageGeometry,
    parameters: Parameters,
    *,
    mask_classes: Sequence[int] | None = None,
) -> np.ndarray:
    """Mask label: the convex hull of the object's column sites.

    A pixel is inside when its centre lies inside the hull. Fewer than three
    non-collinear sites outline no area and give an empty mask.

    Parameters
    ----------
    sites : numpy.ndarray, shape (N, 2)
        Column positions (x, y) [Å] in the cell frame.
    classes : numpy.ndarray, shape (N,)
        Class of each site.
    geometry : ImageGeometry
        The image's pixel grid.
    parameters : temnn.Parameters
        ``num_classes`` 1 (mask) or 2 (mask, background).
    mask_classes : sequence of int, optional
        Classes that outline the object; ``None`` takes every site.

    Returns
    -------
    numpy.ndarray, shape (num_classes, nx, ny), float32
        1 inside the hull, 0 outside (and the complement in the background channel).
    """
    sites, classes = _as_sites(sites, classes)
    if mask_classes is not None:
        sites = sites[np.isin(classes, np.asarray(mask_classes, dtype=np.int64))]
    mask = np.zeros(geometry.shape, dtype=np.float32)
    pixels = geometry.positions_to_pixels(sites)
    if len(pixels) >= 3:
        import scipy.spatial

        try:
            hull = pixels[scipy.spatial.ConvexHull(pixels).vertices]
        except scipy.spatial.QhullError:  # all sites on one line: no area
            hull = None
        if hull is not None:
            from matplotlib.path import Path

            # Test only the pixel centres in the hull's bounding box (matplotlib's point-in-polygon
            # is ~3x faster than skimage.draw.polygon here, with the same result).
            lo = np.maximum(np.ceil(hull.min(axis=0)), 0).astype(int)
            hi = np.minimum(np.floor(hull.max(axis=0)), np.array(geometry.shape) - 1).astype(int)
            if np.all(hi >= lo):
                ix, iy = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij")
                inside = Path(hull).contains_points(np.column_stack([ix.ravel(), iy.ravel()]))
                mask[ix.ravel()[inside], iy.ravel()[inside]] = 1.0
    channels = [mask]
    if has_background(parameters):
        channels.append(1.0 - mask)
    return np.stack(channels)


def disk_label(sites: np.ndarray, classes: np.ndarray, geometry: ImageGeometry, parameters: Parameters) -> np.ndarray:
    """Disk label: a disc of diameter ``spotsize`` [Å] at each site, one channel per class.

    A pixel belongs to a disc when its centre is within ``spotsize / 2`` of the site,
    so a disc covers π(spotsize/2)²/sampling² pixels on average over sub-pixel positions.

    Parameters
    ----------
    sites : numpy.ndarray, shape (N, 2)
        Column positions (x, y) [Å] in the cell frame.
    classes : numpy.ndarray, shape (N,)
        Class of each site, ``0 <= class < num_classes - null_class``.
    geometry : ImageGeometry
        The image's pixel grid.
    parameters : temnn.Parameters
        ``spotsize`` [Å], ``num_classes`` and ``null_class``.

    Returns
    -------
    numpy.ndarray, shape (num_classes, nx, ny), float32
        Binary class channels, then the background ``1 - clip(sum, 0, 1)`` with ``null_class``.

    Examples
    --------
    >>> from temnn import Parameters
    >>> from temnn.simulate.geometry import ImageGeometry
    >>> p = Parameters(label="Disk", image_size=(8, 8), sampling=(0.1, 0.1), num_classes=2, spotsize=0.25)
    >>> g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(8, 8))
    >>> label = disk_label([[0.3, 0.4]], [0], g, p)
    >>> label.shape, int(label[0].sum()), label[0, 3, 4], label[1, 3, 4]
    ((2, 8, 8), 5, np.float32(1.0), np.float32(0.0))
    """
    sites, classes = _as_sites(sites, classes)
    n_channels = _check_site_classes(classes, parameters)
    radius = 0.5 * parameters.spotsize / geometry.sampling  # [pixels]
    label = np.zeros((n_channels,) + geometry.shape, dtype=np.float32)
    for site, ix, iy, d2 in _site_windows(geometry.positions_to_pixels(sites), radius, geometry.shape):
        inside = d2 <= radius**2
        label[classes[site[inside]], ix[inside], iy[inside]] = 1.0
    return _with_background(label, parameters)


def gaussian_label(
    sites: np.ndarray, classes: np.ndarray, geometry: ImageGeometry, parameters: Parameters
) -> np.ndarray:
    """Gaussian label: a Gaussian of peak 1 and FWHM ``spotsize`` [Å] at each site, one channel per class.

    σ = spotsize / (2 √(2 ln 2)), each Gaussian cut at 6σ. Gaussians of one class add
    and the sum is clipped to 1.

    Parameters
    ----------
    sites : numpy.ndarray, shape (N, 2)
        Column positions (x, y) [Å] in the cell frame.
    classes : numpy.ndarray, shape (N,)
        Class of each site, ``0 <= class < num_classes - null_class``.
    geometry : ImageGeometry
        The image's pixel grid.
    parameters : temnn.Parameters
        ``spotsize`` (FWHM) [Å], ``num_classes`` and ``null_class``.

    Returns
    -------
    numpy.ndarray, shape (num_classes, nx, ny), float32
        Class channels in [0, 1], then the background ``1 - clip(sum, 0, 1)`` with ``null_class``.
    """
    sites, classes = _as_sites(sites, classes)
    n_channels = _check_site_classes(classes, parameters)
    sigma = parameters.spotsize / FWHM_PER_SIGMA / geometry.sampling  # [pixels]
    nx, ny = geometry.shape
    total = np.zeros(n_channels * nx * ny)
    # Each Gaussian is cut at 6σ, where it has fallen to 1.5e-8.
    for site, ix, iy, d2 in _site_windows(geometry.positions_to_pixels(sites), 6.0 * sigma, geometry.shape):
        flat = (classes[site] * nx + ix) * ny + iy
        total += np.bincount(flat, weights=np.exp(-0.5 * d2 / sigma**2), minlength=total.size)
    label = np.minimum(total, 1.0).reshape(n_channels, nx, ny).astype(np.float32)
    return _with_background(label, parameters)


def exitwave_label(
    wave: np.ndarray,
    wave_sampling: float | tuple[float, float],
    geometry: ImageGeometry,
    parameters: Parameters,
) -> np.ndarray:
    """Exitwave label: the exit wave on the image grid, real and imaginary part.

    The wave is resampled band-limited onto the image grid by
    :func:`temnn.simulate.images.resample`, the resampling that forms the images,
    which also applies the Gaussian filter of σ = ``exitwave_filter`` [Å] as a
    product in Fourier space on the wave's periodic grid (exact for the periodic
    multislice wave, and cheap). Pixels outside the multislice cell are vacuum (1).

    Parameters
    ----------
    wave : numpy.ndarray, shape (Nx, Ny), complex
        Exit wave on its native grid, indexed ``[ix, iy]`` (vacuum = 1).
    wave_sampling : float or tuple[float, float]
        Sampling of the exit wave [Å/pixel].
    geometry : ImageGeometry
        The image's pixel grid.
    parameters : temnn.Parameters
        ``exitwave_filter`` σ [Å] (0 for none).

    Returns
    -------
    numpy.ndarray, shape (2, nx, ny), float32
        Real and imaginary part of the wave.
    """
    import torch

    from .images import resample

    field = torch.from_numpy(np.asarray(wave, dtype=np.complex64))[None]
    sigma = parameters.exitwave_filter or None
    resampled = resample(field, wave_sampling, [geometry], sigma=sigma, fill=1.0)[0].numpy()
    return np.stack([resampled.real, resampled.imag]).astype(np.float32)


def make_label(
    parameters: Parameters,
    geometry: ImageGeometry,
    *,
    sites: np.ndarray | None = None,
    classes: np.ndarray | None = None,
    mask_classes: Sequence[int] | None = None,
    wave: np.ndarray | None = None,
    wave_sampling: float | tuple[float, float] | None = None,
) -> np.ndarray:
    """The label that ``parameters.label`` asks for.

    Parameters
    ----------
    parameters : temnn.Parameters
        The parameters file.
    geometry : ImageGeometry
        The image's pixel grid.
    sites, classes : numpy.ndarray, optional
        Column positions (N, 2) [Å] and classes (N,); needed by Mask, Disk and Gaussian.
    mask_classes : sequence of int, optional
        Classes that outline the object (Mask; see :func:`resolve_mask_classes`).
    wave : numpy.ndarray, optional
        Exit wave (Nx, Ny) for an Exitwave label (the support-free object wave when
        ``exitwave_without_support``).
    wave_sampling : float or tuple[float, float], optional
        Sampling of ``wave`` [Å/pixel].

    Returns
    -------
    numpy.ndarray, shape (parameters.output_channels, nx, ny), float32

    Examples
    --------
    >>> from temnn import Parameters
    >>> from temnn.simulate.geometry import ImageGeometry
    >>> p = Parameters(label="Mask", image_size=(16, 16), sampling=(0.1, 0.1), num_classes=2)
    >>> g = ImageGeometry(sampling=0.1, origin=(0.0, 0.0), shape=(16, 16))
    >>> square = [[0.25, 0.25], [1.25, 0.25], [1.25, 1.25], [0.25, 1.25]]
    >>> label = make_label(p, g, sites=square, classes=[0, 0, 0, 0])
    >>> label.shape, int(label[0].sum()), bool((label.sum(axis=0) == 1).all())
    ((2, 16, 16), 100, True)
    """
    if parameters.label == "Exitwave":
        if wave is None or wave_sampling is None:
            raise ValueError("an Exitwave label needs the wave and its sampling")
        return exitwave_label(wave, wave_sampling, geometry, parameters)
    if sites is None or classes is None:
        raise ValueError(f"a {parameters.label} label needs sites and classes")
    if parameters.label == "Mask":
        return mask_label(sites, classes, geometry, parameters, mask_classes=mask_classes)
    if parameters.label == "Disk":
        return disk_label(sites, classes, geometry, parameters)
    return gaussian_label(sites, classes, geometry, parameters)


# ----------------------------------------------------------------------------- helpers
def _as_sites(sites: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sites = np.asarray(sites, dtype=np.float64).reshape(-1, 2)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    if len(sites) != len(classes):
        raise ValueError(f"{len(sites)} sites but {len(classes)} classes")
    return sites, classes


def _site_windows(
    pixels: np.ndarray, reach: float, shape: tuple[int, int], *, max_entries: int = 1 << 22
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Image pixels within a square window of half-width ``reach`` [pixels] around each site.

    Yields ``(site, ix, iy, d2)``: flat arrays of the site number, the pixel indices (inside
    the image) and the squared distance [pixels²] from the site, for chunks of sites small
    enough to keep memory at about ``max_entries`` candidates. Work is O(N·reach²), not
    O(N·nx·ny): label cost does not grow with the image for a given number of sites.
    """
    w = int(np.ceil(reach + 0.5))
    offsets = np.arange(-w, w + 1)
    chunk = max(1, max_entries // len(offsets) ** 2)
    nx, ny = shape
    for start in range(0, len(pixels), chunk):
        p = pixels[start : start + chunk]
        nearest = np.rint(p).astype(np.int64)
        ix = nearest[:, 0, None, None] + offsets[None, :, None]
        iy = nearest[:, 1, None, None] + offsets[None, None, :]
        ix, iy = np.broadcast_arrays(ix, iy)
        d2 = (ix - p[:, 0, None, None]) ** 2 + (iy - p[:, 1, None, None]) ** 2
        keep = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        site = np.broadcast_to(np.arange(start, start + len(p))[:, None, None], keep.shape)
        yield site[keep], ix[keep], iy[keep], d2[keep]


def _check_site_classes(classes: np.ndarray, parameters: Parameters) -> int:
    n_channels = site_channels(parameters)
    if len(classes) and (classes.min() < 0 or classes.max() >= n_channels):
        where = parameters.source or "parameters"
        raise TemnnError(
            f"{where}: sites have classes {sorted(set(classes.tolist()))}, but 'num_classes' = "
            f"{parameters.num_classes} with 'null_class': {str(parameters.null_class).lower()} "
            f"leaves {n_channels} class channel(s); set 'num_classes' to {int(classes.max()) + 1 + parameters.null_class}"
        )
    return n_channels


def _with_background(label: np.ndarray, parameters: Parameters) -> np.ndarray:
    if not parameters.null_class:
        return label
    background = 1.0 - np.clip(label.sum(axis=0), 0.0, 1.0)
    return np.concatenate([label, background[None].astype(np.float32)])
