"""Tiled, streamed inference: large images tile by tile with overlap, long stacks frame by frame.

A 4096 × 4096 frame does not fit through a U-net at once on most machines, and a sequence of
thousands of frames never fits in memory. Here

- :func:`predict_tiled` runs any network function over overlapping tiles of one image and
  blends them with weights that sum to one, so memory is bounded by tile × batch (plus the
  image and its prediction);
- :func:`inference_sampling` picks the sampling a model runs at (its card's training range);
- :func:`temnn.nn.inference.predict` (the one inference function) does what a trained model
  needs around the tiling: resample the image to the model's training sampling, standardise it
  *once on the whole frame* (thesis eq. 3.1; the 12 Å Gaussian is far wider than any tile
  overlap, so standardising tiles separately would change the input near every seam), tile the
  network, and bring the prediction back to the image's pixel grid;
  :func:`temnn.nn.inference.predict_frames` streams a stack through it, one frame at a time.

Layout: along each axis the first tile starts at the image's start and the last ends at its
end; the tiles between are spread evenly, neighbours overlapping by at least ``overlap``
pixels, and every start is a multiple of the network's pooling factor (:func:`size_multiple`),
so that a U-net pools the same pixel blocks as in a whole-image pass. Only an image whose side
is not such a multiple is extended by reflection, by less than the factor.

Blending: inside an overlap band of width ``o`` a tile's weight is 0 within ``o/4`` of its
edge, rises as sin² across the middle half of the band and is 1 beyond; the neighbour's weight
mirrors it, and the weighted sum is divided by the sum of the weights. Every pixel is thus
predicted only by tiles that saw at least ``o/4`` pixels of context around it: when the
network's receptive field radius is at most ``overlap/4`` the tiled prediction equals a
whole-image pass exactly, image borders included; for deeper networks the seams are smooth
and their error small. Image borders are never tapered.

Images index ``[ix, iy]`` (abTEM's order) throughout.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any, Callable

import numpy as np

from ..errors import TemnnError
from ..checks import positive_sampling

__all__ = [
    "blend_window",
    "tile_positions",
    "predict_tiled",
    "size_multiple",
    "inference_sampling",
    "check_channels",
    "check_tiling",
]

ModelFunction = Callable[[np.ndarray], np.ndarray]

# Up-sampling a coarse image more than this for a model trained on finer images is refused:
# the missing resolution cannot be interpolated back (down-sampling fine images is always fine).
_MAX_UPSAMPLING = 4.0


def blend_window(length: int, start_overlap: int = 0, end_overlap: int = 0) -> np.ndarray:
    """One-dimensional blending weights of a tile.

    Parameters
    ----------
    length : int
        Tile length [pixels].
    start_overlap, end_overlap : int
        Overlap with the tile before / after [pixels]; 0 where there is none (an image
        border), which leaves that side untapered.

    Returns
    -------
    numpy.ndarray
        float32 weights (length,): 0 within ``o/4`` of a tapered edge, a sin² ramp over the
        next ``o/2``, 1 elsewhere. Over a shared band a tile's tapered end and its
        neighbour's tapered start sum to 1.

    Examples
    --------
    >>> w = blend_window(8, 0, 4)
    >>> bool(np.allclose(w[4:] + blend_window(8, 4, 0)[:4], 1))
    True
    """
    centre = np.arange(length, dtype=np.float64) + 0.5  # distance of the pixel centre from the start edge
    weight = np.ones(length, dtype=np.float64)
    for overlap, distance in ((start_overlap, centre), (end_overlap, length - centre)):
        if overlap > 0:
            weight *= np.sin(0.5 * np.pi * np.clip((distance - overlap / 4) / (overlap / 2), 0.0, 1.0)) ** 2
    return weight.astype(np.float32)


def tile_positions(size: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int], int]:
    """Tile length, tile starts and (padded) image length along one axis.

    Parameters
    ----------
    size : int
        Image length [pixels].
    tile : int
        Requested tile length [pixels]; rounded down to a multiple of ``multiple``.
    overlap : int
        Least overlap of neighbouring tiles [pixels].
    multiple : int
        Starts and tile length are multiples of this (``2**levels`` for a U-net).

    Returns
    -------
    (int, list of int, int)
        Tile length, starts (the first 0, the last flush with the end, the others spread
        evenly), and the image length rounded up to ``multiple`` (the length to pad to). An
        image not longer than the tile is one tile of its own length.

    Examples
    --------
    >>> tile_positions(256, 96, 32, 16)
    (96, [0, 48, 96, 160], 256)
    """
    if size <= tile:
        return size, [0], size
    tile = max(multiple, tile // multiple * multiple)
    step = (tile - overlap) // multiple * multiple
    if step <= 0:
        raise TemnnError(
            f"tile {tile} px with overlap {overlap} px leaves no step that is a multiple of {multiple} px "
            "(the network's pooling factor); use a larger tile or a smaller overlap"
        )
    padded = -(-size // multiple) * multiple
    span = padded - tile
    gaps = -(-span // step)  # the fewest steps of at most `step`
    # floor(k·span/gaps) rounded down to the multiple: consecutive starts differ by at most `step`
    starts = [(k * span // gaps) // multiple * multiple for k in range(gaps + 1)]
    return tile, starts, padded


def _axis_weights(length: int, starts: list[int], tile: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Blending window of each tile along one axis and their sum over the (padded) axis."""
    windows = []
    total = np.zeros(length, dtype=np.float32)
    for k, start in enumerate(starts):
        before = starts[k - 1] + tile - start if k > 0 else 0
        after = start + tile - starts[k + 1] if k + 1 < len(starts) else 0
        windows.append(blend_window(tile, before, after))
        total[start:start + tile] += windows[-1]
    return windows, total


def predict_tiled(
    model_fn: ModelFunction,
    image: np.ndarray,
    *,
    tile: int | tuple[int, int] = 512,
    overlap: int = 64,
    batch_size: int = 4,
    multiple: int = 1,
) -> np.ndarray:
    """Apply a network function to a large image tile by tile and blend the tiles.

    Parameters
    ----------
    model_fn : callable
        Maps a float32 batch (B, C, tx, ty) to a float32 array (B, K, tx, ty) (a fully
        convolutional network and its output activation).
    image : numpy.ndarray
        (nx, ny) image or (C, nx, ny) focal series, already pre-processed.
    tile : int or (int, int)
        Tile side [pixels] (one for both axes, or (tx, ty)).
    overlap : int
        Overlap of neighbouring tiles [pixels], at most half the tile. Tiles agree with a
        whole-image pass when the network's receptive field radius is at most ``overlap/4``.
    batch_size : int
        Tiles per call of ``model_fn``: memory is bounded by ``batch_size`` tiles.
    multiple : int
        Tile starts and sizes are multiples of this [pixels] (see :func:`size_multiple`).

    Returns
    -------
    numpy.ndarray
        float32 (K, nx, ny) prediction.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.random.default_rng(0).random((100, 70), dtype=np.float32)
    >>> out = predict_tiled(lambda b: 2 * b, image, tile=32, overlap=16, batch_size=3)
    >>> bool(np.allclose(out[0], 2 * image, atol=1e-5))
    True
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        image = image[None]
    if image.ndim != 3:
        raise TemnnError(f"image: expected (nx, ny) or (C, nx, ny), got shape {image.shape}")
    tiles = check_tiling(tile, overlap, batch_size, multiple)
    _, nx, ny = image.shape
    tx, xs, px = tile_positions(nx, int(tiles[0]), overlap, multiple)
    ty, ys, py = tile_positions(ny, int(tiles[1]), overlap, multiple)
    if (px, py) != (nx, ny):
        image = np.pad(image, ((0, 0), (0, px - nx), (0, py - ny)), mode="reflect")
    wx, total_x = _axis_weights(px, xs, tx)
    wy, total_y = _axis_weights(py, ys, ty)
    out: np.ndarray | None = None
    positions = list(itertools.product(range(len(xs)), range(len(ys))))
    for first in range(0, len(positions), batch_size):
        chunk = positions[first:first + batch_size]
        batch = np.stack([image[:, xs[i]:xs[i] + tx, ys[j]:ys[j] + ty] for i, j in chunk])
        result = np.asarray(model_fn(batch), dtype=np.float32)
        if result.ndim != 4 or result.shape[0] != len(chunk) or result.shape[2:] != (tx, ty):
            raise TemnnError(
                f"model_fn must return (batch, channels, {tx}, {ty}) for a ({len(chunk)}, {image.shape[0]}, {tx}, {ty}) "
                f"batch, got {result.shape}"
            )
        if out is None:
            out = np.zeros((result.shape[1], nx, ny), dtype=np.float32)
        for (i, j), tile_out in zip(chunk, result):
            ex, ey = min(tx, nx - xs[i]), min(ty, ny - ys[j])
            weight = wx[i][:ex, None] * wy[j][None, :ey]
            out[:, xs[i]:xs[i] + ex, ys[j]:ys[j] + ey] += tile_out[:, :ex, :ey] * weight
    assert out is not None
    # the weights are separable, so their sum over the tile grid is the outer product of the axis sums
    out /= total_x[:nx, None] * total_y[None, :ny]
    return out


def size_multiple(model: Any) -> int:
    """The factor tile starts must share for a tiled pass to match a whole-image pass [pixels].

    ``binning * 2**levels``: the input binning (1 without) times ``2**levels`` for networks
    that max-pool ``levels`` times (U-net, U-net++; none for the MSD-net).
    """
    hyperparameters = getattr(model, "hyperparameters", {})
    return int(hyperparameters.get("binning", 1)) * 2 ** int(hyperparameters.get("levels", 0))


def inference_sampling(model: Any, sampling: float, *, source: str = "image") -> float:
    """The sampling at which to run ``model`` on an image of ``sampling`` [Å/pixel].

    The image's own sampling when it lies in the model card's training range ``sampling``
    (low, high), else the nearest end of that range, with a warning that the image will be
    resampled. Models without a training range run at the image's sampling. An image more
    than 4× coarser than the range is refused (no interpolation restores that resolution).

    Parameters
    ----------
    model : temnn.nn.Network
        A model from :func:`temnn.load_model` (``model.card["sampling"]``).
    sampling : float
        Image sampling [Å/pixel].
    source : str
        Name of the image (file), for the warning.

    Returns
    -------
    float
        Sampling [Å/pixel] for the network.
    """
    sampling = positive_sampling(sampling)
    bounds = (getattr(model, "card", None) or {}).get("sampling")
    if not bounds:
        return sampling
    low, high = (float(b) for b in bounds)
    if sampling > _MAX_UPSAMPLING * high:
        raise TemnnError(
            f"{source}: sampling {sampling:.4g} Å/pixel is over {_MAX_UPSAMPLING:g}× coarser than the model's training "
            f"range [{low:.4g}, {high:.4g}] Å/pixel: the image cannot show what the model was trained to see. "
            "Use a model trained at this magnification, or check the calibration (give --sampling / sampling= in Å/pixel)"
        )
    target = min(max(sampling, low), high)
    if target != sampling:
        warnings.warn(
            f"{source}: sampling {sampling:.4g} Å/pixel is outside the model's training range "
            f"[{low:.4g}, {high:.4g}] Å/pixel; the image is resampled to {target:.4g} Å/pixel for the network "
            "and the prediction back to the image grid",
            stacklevel=2,
        )
    return target


def check_tiling(tile: int | tuple[int, int], overlap: int, batch_size: int = 1,
                 multiple: int = 1) -> tuple[int, int]:
    """Check the tiling options and return the tile shape (tx, ty) [pixels].

    Parameters
    ----------
    tile
        Tile side, or (tx, ty) [pixels].
    overlap
        Overlap of neighbouring tiles [pixels], at most half a tile.
    batch_size
        Tiles per forward pass.
    multiple
        Tile sides are rounded to a multiple of this [pixels].

    Raises
    ------
    TemnnError
        An option that is not an integer in its range, naming the option.
    """
    tiles = (tile, tile) if np.isscalar(tile) else tuple(tile)
    for name, value, low in (("tile", min(tiles), 1), ("overlap", overlap, 0), ("batch_size", batch_size, 1),
                             ("multiple", multiple, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise TemnnError(f"{name}: expected an integer ≥ {low} [pixels], got {value!r}")
    if 2 * overlap > min(tiles):
        raise TemnnError(f"overlap: at most half the tile ({min(tiles) // 2} px for tile {min(tiles)} px), got {overlap}")
    return tiles


def check_channels(model: Any, channels: int, *, source: str = "image") -> None:
    """Raise :class:`~temnn.TemnnError` unless ``model`` takes ``channels`` images per input.

    Parameters
    ----------
    model : temnn.nn.Network
        The network (``in_channels``: images in the focal series it was trained on).
    channels : int
        Images per input that the data provide.
    source : str
        Name of the data (file), for the message.
    """
    expected = int(getattr(model, "in_channels", channels))
    if expected != channels:
        hint = (
            "group each focal series of the stack as one input (focal_series=True, --focal-series) or use a "
            "model trained on single images" if channels == 1 else
            f"give {expected} image(s) per input"
        )
        raise TemnnError(
            f"{source}: the model expects a focal series of {expected} image(s) per input "
            f"(input channels {expected}), but the data give {channels}; {hint}"
        )
