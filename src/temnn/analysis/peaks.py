"""Atomic-column positions and classes from class probability maps.

Maps index (x, y) like abTEM: ``prob[k, ix, iy]`` is the probability of class ``k``
at position (ix·s, iy·s) [Å] for a sampling s [Å/pixel]. Positions are returned in
pixels as (ix, iy) floats; :func:`pixels_to_angstrom` converts them. Distances between
peaks are in Å with the sampling (``min_spacing=…, sampling=…``); the pixel spelling
``min_distance`` is deprecated (see :func:`temnn.units.length_in_pixels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.morphology import local_maxima

from ..checks import finite_threshold, positive_sampling, real_finite
from ..errors import TemnnError
from ..units import length_in_pixels
from ._arrays import class_maps

__all__ = [
    "Peaks",
    "find_peaks",
    "regional_maxima",
    "refine_peaks",
    "assign_classes",
    "pixels_to_angstrom",
    "angstrom_to_pixels",
]

Refinement = Literal["gaussian", "com", "none"]


@dataclass
class Peaks:
    """Peaks of a map: positions, classes and the map value at each peak.

    Attributes
    ----------
    positions
        (N, 2) float positions (ix, iy) [pixels].
    classes
        (N,) integer class of each peak (index into the class names; −1 = none).
    values
        (N,) map value at each peak (the probability of a column) [map units].
    """

    positions: np.ndarray
    classes: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 2)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if not len(self.positions) == len(self.classes) == len(self.values):
            raise TemnnError(
                f"Peaks: {len(self.positions)} positions, {len(self.classes)} classes and "
                f"{len(self.values)} values; give one of each per peak"
            )

    def __len__(self) -> int:
        return len(self.positions)

    @classmethod
    def from_positions(cls, positions: np.ndarray, classes: np.ndarray | None = None, *,
                       name: str = "positions") -> Peaks:
        """Peaks from (N, 2) positions [pixels]; classes default to 0, values to 1."""
        positions = np.asarray(real_finite(positions, name=name), dtype=np.float64)
        if positions.size == 0:
            positions = positions.reshape(0, 2)
        if positions.ndim != 2 or positions.shape[1] != 2:
            raise TemnnError(
                f"{name}: expected (N, 2) positions (ix, iy) in pixels, got an array of shape {positions.shape}; "
                "find the columns of a probability map with temnn.find_peaks first"
            )
        n = len(positions)
        return cls(positions, np.zeros(n, np.int64) if classes is None else classes, np.ones(n))

    def angstrom(self, sampling: float) -> np.ndarray:
        """Positions (x, y) [Å] for a sampling [Å/pixel]."""
        return pixels_to_angstrom(self.positions, sampling)


def pixels_to_angstrom(positions: np.ndarray, sampling: float) -> np.ndarray:
    """Convert (N, 2) pixel positions (ix, iy) to (x, y) [Å]; ``sampling`` in [Å/pixel]."""
    return np.asarray(positions, dtype=np.float64) * positive_sampling(sampling)


def angstrom_to_pixels(positions: np.ndarray, sampling: float) -> np.ndarray:
    """Convert (N, 2) positions (x, y) [Å], e.g. stored sites, to pixels; ``sampling`` in [Å/pixel]."""
    return np.asarray(positions, dtype=np.float64) / positive_sampling(sampling)


def regional_maxima(image: np.ndarray, *, sampling: float | None = None, min_spacing: float | None = None,
                    mask: np.ndarray | None = None, regions: np.ndarray | None = None,
                    min_distance: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maxima of an image, one per flat top, spaced at least ``min_spacing`` apart.

    Parameters
    ----------
    image
        (nx, ny) map.
    sampling
        Pixel size of the map [Å/pixel].
    min_spacing
        Smallest distance between two kept maxima [Å]; of two closer maxima the
        higher one is kept (the first in raster order on a tie).
    mask
        Where maxima may lie (default: everywhere).
    regions
        Integer label image; when given, spacing is enforced only between maxima of
        the same region, so every region keeps at least its highest maximum.
    min_distance
        Deprecated: the smallest distance in pixels, without ``sampling``; warns.

    Returns
    -------
    (markers, heights, pixels)
        ``markers``: int32 label image, pixel sets of the kept maxima numbered 1..N
        from the highest (a flat top is one marker); ``heights``: (N,) image value
        of each; ``pixels``: (N, 2) integer pixel (ix, iy) of each marker, the one
        nearest the centre of its flat top.

    Notes
    -----
    The candidates are scikit-image's regional maxima
    (:func:`skimage.morphology.local_maxima`, 8-connected, borders allowed): connected
    flat tops with no higher neighbour. :func:`skimage.feature.peak_local_max` is not
    used for the spacing: it returns every pixel of a flat maximum (a binary label, a
    saturated softmax, the ridge of a distance map) spaced by ``min_distance``, so one
    flat disc gives several peaks. Here each flat top is first merged into one
    candidate and only then are the candidates spaced.

    Examples
    --------
    >>> x = np.arange(64)[:, None] * np.ones((1, 8))
    >>> two = np.exp(-(x - 20) ** 2 / 8) + 0.9 * np.exp(-(x - 50) ** 2 / 8)  # ridges 3 Å apart at 0.1 Å/pixel
    >>> [len(regional_maxima(two, sampling=0.1, min_spacing=s)[1]) for s in (2.0, 4.0)]
    [2, 1]
    """
    distance = length_in_pixels("regional_maxima", name="min_spacing", value=min_spacing, sampling=sampling,
                                old_name="min_distance", old_value=min_distance)
    if distance is None:
        raise TemnnError("regional_maxima: give min_spacing= in Å with sampling= in Å/pixel")
    return _regional_maxima(image, distance, mask=mask, regions=regions)


def _regional_maxima(image: np.ndarray, distance: float, *, mask: np.ndarray | None = None,
                     regions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`regional_maxima` with the spacing ``distance`` in pixels."""
    image = np.asarray(image, dtype=np.float64)
    if image.size and np.ptp(image) > 0:
        is_max = local_maxima(image, connectivity=2, allow_borders=True)
    else:  # a constant image is one flat top (scikit-image finds no maximum without a lower neighbour)
        is_max = np.ones(image.shape, dtype=bool)
    if mask is not None:
        is_max &= np.asarray(mask, dtype=bool)
    candidates, n = ndi.label(is_max, structure=np.ones((3, 3)))
    if n == 0:
        return candidates.astype(np.int32), np.zeros(0), np.zeros((0, 2), np.intp)
    # Work on the few candidate pixels only, not on the whole image.
    ix, iy = np.nonzero(candidates)
    member = candidates[ix, iy] - 1
    heights = np.full(n, -np.inf)
    np.maximum.at(heights, member, image[ix, iy])
    count = np.bincount(member, minlength=n)
    centres = np.stack([np.bincount(member, ix, n) / count, np.bincount(member, iy, n) / count], axis=1)
    group = np.zeros(n, dtype=np.int64)
    if regions is not None:
        group[member] = np.asarray(regions)[ix, iy]
    order = np.lexsort((np.arange(n), -heights))  # highest first, raster order on ties
    neighbours = cKDTree(centres).query_ball_point(centres, r=float(distance))
    keep = np.zeros(n, dtype=bool)
    suppressed = np.zeros(n, dtype=bool)
    # Greedy non-maximum suppression (as peak_local_max does), within one region.
    for i in order:
        if suppressed[i]:
            continue
        keep[i] = True
        for j in neighbours[i]:
            if group[j] == group[i]:
                suppressed[j] = True
    kept = order[keep[order]]
    new_id = np.zeros(n + 1, dtype=np.int32)
    new_id[kept + 1] = np.arange(1, len(kept) + 1, dtype=np.int32)
    # The member pixel nearest the centre stands for a (possibly ring-shaped) flat top.
    off_centre = np.hypot(ix - centres[member, 0], iy - centres[member, 1])
    nearest = np.lexsort((off_centre, member))
    first = nearest[np.searchsorted(member[nearest], np.arange(n))]
    pixels = np.stack([ix[first], iy[first]], axis=1)
    return new_id[candidates], heights[kept], pixels[kept]


def refine_peaks(image: np.ndarray, positions: np.ndarray, *, window: int = 3,
                 method: Refinement = "gaussian") -> np.ndarray:
    """Sub-pixel peak positions from a window around each starting position.

    Parameters
    ----------
    image
        (nx, ny) map with peaks on a background near zero.
    positions
        (N, 2) starting positions (ix, iy) [pixels], rounded to the nearest pixel.
    window
        Half-width of the square fitting window [pixels] ((2·window + 1)² pixels).
    method
        ``"gaussian"``: 2D Gaussian fitted by weighted least squares to the
        logarithm of the window (a quadric in x, y; weights I², Guo 2011), exact for
        Gaussian peaks. ``"com"``: centre of mass of the window after subtracting its
        minimum; biased towards the pixel centre when the window is narrower than
        ~3σ of the peak. ``"none"``: keep the pixel positions.

    Returns
    -------
    np.ndarray
        (N, 2) refined positions (ix, iy) [pixels]. A fit that fails (no maximum,
        or a centre outside the window) keeps the centre of mass.

    References
    ----------
    H. Guo, "A simple algorithm for fitting a Gaussian function", IEEE Signal
    Processing Magazine 28, 134 (2011).
    """
    if method not in ("gaussian", "com", "none"):
        raise TemnnError(f"refine: expected 'gaussian', 'com' or 'none', got {method!r}")
    image = np.asarray(image, dtype=np.float64)
    start = np.rint(np.asarray(positions, dtype=np.float64).reshape(-1, 2)).astype(np.intp)
    if method == "none" or len(start) == 0:
        return start.astype(np.float64)
    w = int(window)
    if w < 1:
        raise TemnnError(f"window: expected a half-width of at least 1 pixel, got {window!r}")
    ox, oy = (o.ravel() for o in np.mgrid[-w:w + 1, -w:w + 1])
    padded = np.pad(image, w, mode="constant", constant_values=np.nan)
    values = padded[start[:, :1] + w + ox, start[:, 1:] + w + oy]  # (N, M), NaN outside the image
    inside = np.isfinite(values)
    values = np.where(inside, values, np.inf)
    weights = np.where(inside, values - values.min(axis=1, keepdims=True), 0.0)
    total = weights.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    shift = np.stack([(weights * ox).sum(1) / safe, (weights * oy).sum(1) / safe], axis=1)
    if method == "gaussian":
        shift = _gaussian_shift(np.where(inside, values, 0.0), inside, ox, oy, fallback=shift, window=w)
    return start + shift


def _gaussian_shift(values: np.ndarray, inside: np.ndarray, ox: np.ndarray, oy: np.ndarray, *,
                    fallback: np.ndarray, window: int) -> np.ndarray:
    """Centres of Gaussians fitted to windows: ln I = a + b x + c y + d x² + e y² + f xy."""
    positive = inside & (values > 0)
    log_values = np.log(np.where(positive, values, 1.0))
    design = np.stack([np.ones_like(ox), ox, oy, ox * ox, oy * oy, ox * oy], axis=1).astype(np.float64)
    weight = np.where(positive, values, 0.0) ** 2
    normal = np.einsum("nm,mi,mj->nij", weight, design, design)
    rhs = np.einsum("nm,mi,nm->ni", weight, design, log_values)
    shift = fallback.copy()
    solvable = np.linalg.cond(normal) < 1e12  # enough positive pixels to fix the six coefficients
    if not solvable.any():
        return shift
    coef = np.linalg.solve(normal[solvable], rhs[solvable][..., None])[..., 0]
    b, c, d, e, f = coef[:, 1], coef[:, 2], coef[:, 3], coef[:, 4], coef[:, 5]
    hessian = np.stack([np.stack([2 * d, f], -1), np.stack([f, 2 * e], -1)], -2)
    det = 4 * d * e - f * f
    is_peak = (d < 0) & (det > 0)
    centre = np.full((len(b), 2), np.nan)
    centre[is_peak] = np.linalg.solve(hessian[is_peak], -np.stack([b, c], -1)[is_peak][..., None])[..., 0]
    good = is_peak & np.all(np.abs(centre) <= window, axis=1)
    rows = np.flatnonzero(solvable)[good]
    shift[rows] = centre[good]
    return shift


def find_peaks(prob: np.ndarray, *, sampling: float | None = None, min_spacing: float | None = None,
               threshold: float = 0.5, background: int | None = None, refine: Refinement = "gaussian",
               window: int = 3, min_distance: float | None = None) -> Peaks:
    """Atomic-column positions and classes from a (class) probability map.

    Parameters
    ----------
    prob
        (nx, ny) map or (K, nx, ny) class probability maps [0-1].
    sampling
        Pixel size of the map [Å/pixel]; needed with ``min_spacing``.
    min_spacing
        Smallest distance between two columns [Å]; of two closer maxima the
        more probable one is kept. It applies to the peak pixels: refining two
        strongly overlapping peaks can bring them closer. Default (neither
        ``min_spacing`` nor ``min_distance``): 5 pixels.
    threshold
        Smallest column probability of a peak [0-1].
    background
        Index of the background channel of a (K, nx, ny) map (temnn labels put it
        last: ``background=-1``), or None when there is none. With a background
        channel, columns are found in 1 − background and classes are numbered over
        the other channels in order (so they index the class names of the sites);
        without one, columns are found in the sum of the channels.
    refine
        Sub-pixel refinement (see :func:`refine_peaks`): ``"gaussian"`` (default;
        exact for Gaussian peaks, within ~0.06 pixel for smooth discs such as a
        network's output), ``"com"`` (better for hard-edged flat discs when the
        window reaches past the disc edge) or ``"none"``.
    window
        Half-width of the refinement window [pixels]; about the column radius.
    min_distance
        Deprecated: the smallest distance in pixels, without ``sampling``; warns.

    Returns
    -------
    Peaks
        Positions (ix, iy) [pixels], the class of each column (argmax of the class
        channels at its pixel) and its probability, most probable first.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.mgrid[:32, :32]
    >>> prob = np.exp(-((x - 10.3) ** 2 + (y - 20.6) ** 2) / 4.0)
    >>> peaks = find_peaks(prob, sampling=0.1, min_spacing=0.5)
    >>> np.round(peaks.positions, 3).tolist(), peaks.classes.tolist()
    ([[10.3, 20.6]], [0])
    """
    distance = length_in_pixels("find_peaks", name="min_spacing", value=min_spacing, sampling=sampling,
                                old_name="min_distance", old_value=min_distance, default=5.0)
    return _find_peaks(prob, distance, threshold=threshold, background=background, refine=refine, window=window)


def _find_peaks(prob: np.ndarray, distance: float, *, threshold: float = 0.5, background: int | None = None,
                refine: Refinement = "gaussian", window: int = 3) -> Peaks:
    """:func:`find_peaks` with the spacing ``distance`` in pixels."""
    maps = class_maps(real_finite(prob, name="prob"), name="prob").astype(np.float64, copy=False)
    threshold = finite_threshold(threshold)
    if background is not None:
        if not -maps.shape[0] <= background < maps.shape[0] or maps.shape[0] < 2:
            raise TemnnError(
                f"background: channel {background} does not exist in a map with {maps.shape[0]} channel(s); "
                "give the index of the background channel or None"
            )
        background = background % maps.shape[0]
        detection = 1.0 - maps[background]
        classes_maps = np.delete(maps, background, axis=0)
    else:
        detection = maps.sum(axis=0)
        classes_maps = maps
    if distance < 1:
        raise TemnnError(f"min_spacing (min_distance): expected at least 1 pixel, got {distance!r} pixels")
    _, heights, pixel = _regional_maxima(detection, distance, mask=detection >= threshold)
    positions = refine_peaks(detection, pixel, window=window, method=refine)
    classes = np.argmax(classes_maps[:, pixel[:, 0], pixel[:, 1]], axis=0) if len(pixel) else np.zeros(0, np.int64)
    return Peaks(positions, classes, heights)


def assign_classes(positions: np.ndarray, sites: np.ndarray, site_classes: np.ndarray, *,
                   radius: float) -> np.ndarray:
    """Class of the nearest site within ``radius`` of each position (−1 if none).

    Parameters
    ----------
    positions
        (N, 2) positions [pixels].
    sites
        (M, 2) column sites [pixels] (convert stored sites with :func:`angstrom_to_pixels`).
    site_classes
        (M,) class of each site.
    radius
        Largest distance to a site [pixels].

    Returns
    -------
    np.ndarray
        (N,) integer classes.
    """
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    sites = np.asarray(sites, dtype=np.float64).reshape(-1, 2)
    site_classes = np.asarray(site_classes, dtype=np.int64).reshape(-1)
    if len(sites) != len(site_classes):
        raise TemnnError(f"sites: {len(sites)} sites but {len(site_classes)} classes; give one class per site")
    classes = np.full(len(positions), -1, dtype=np.int64)
    if len(sites) == 0 or len(positions) == 0:
        return classes
    dist, nearest = cKDTree(sites).query(positions, distance_upper_bound=float(radius))
    found = np.isfinite(dist)
    classes[found] = site_classes[nearest[found]]
    return classes
