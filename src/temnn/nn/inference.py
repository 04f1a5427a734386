"""Apply a trained network: the one inference path of temnn.

:func:`predict` is what the command line (``temnn predict``), :class:`temnn.ExperimentalData`,
:class:`temnn.SimulatedData`, ``temnn evaluate``, the ensembles and the napari widgets call:
the card's task and standardisation width, optional resampling to the card's training range
(:func:`temnn.nn.tiling.inference_sampling`), local standardisation of each whole series
(thesis eq. 3.1), the network over the whole image or over overlapping tiles
(:func:`temnn.nn.tiling.predict_tiled`), the task's output activation, and the prediction back
on the input's pixel grid. :func:`predict_frames` streams a stack through it.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..checks import real_finite
from ..errors import TemnnError
from .blocks import Network
from .standardise import local_standardise, standardisation_sigma
from .tasks import Task
from .tiling import check_channels, inference_sampling, predict_tiled, size_multiple

__all__ = ["predict", "predict_frames"]


def predict(
    model: Network,
    images: np.ndarray | torch.Tensor,
    *,
    sampling: float | Sequence[float] | np.ndarray,
    tile: int | None = None,
    overlap: int = 64,
    batch_size: int = 4,
    device: str | torch.device | None = None,
    task: Task | None = None,
    normalizedistance: float | None = None,
    resample: bool = False,
    source: str = "images",
) -> np.ndarray:
    """Probabilities (segmentation) or exit wave (regression) for raw HR-TEM images.

    The images are standardised exactly as in training (Gaussian of ``normalizedistance``
    Å at this ``sampling``, over each whole series), so pass intensities, not pre-processed
    images.

    Parameters
    ----------
    model : Network
        A network from :func:`temnn.load_model` (its card supplies task, normalisation
        distance and training sampling range).
    images : numpy.ndarray or torch.Tensor
        One focal series (C, nx, ny) or a batch (B, C, nx, ny) of image intensities
        (C = 1 for single images).
    sampling : float or sequence of float
        Image sampling [Å/pixel]: one value, or one per series of a batch (images of a
        simulated set each have their own).
    tile : int, optional
        Tile side [pixels] at the network's sampling: images are run in overlapping tiles
        (bounded memory; ``temnn predict`` and :class:`temnn.ExperimentalData` use 512).
        None: whole images, series of one batch together.
    overlap : int
        Overlap of neighbouring tiles [pixels].
    batch_size : int
        Series (whole images) or tiles per forward pass.
    device : str or torch.device, optional
        Where to run; the model is moved there. Default: where the model is.
    task : Task, optional
        Overrides the model's task (needed for a network without a card).
    normalizedistance : float, optional
        Overrides the card's standardisation width [Å].
    resample : bool
        Resample images whose sampling lies outside the card's training range to its nearest
        end (with a warning) and the prediction back; refuse images over 4× coarser.
    source : str
        Name of the images (file or layer) in messages.

    Returns
    -------
    numpy.ndarray
        float32 (K, nx, ny) or (B, K, nx, ny) on the input's pixel grid: sigmoid/softmax
        probabilities or the linear output.
    """
    task = task or getattr(model, "task", None)
    card = getattr(model, "card", None) or {}
    normalizedistance = normalizedistance or card.get("normalizedistance")
    if task is None or normalizedistance is None:
        raise TemnnError("predict needs a model loaded with temnn.load_model (or give task= and normalizedistance=)")
    if torch.is_tensor(images):  # checked where it lies (a GPU tensor stays there)
        if images.is_complex() or not bool(torch.isfinite(images).all()):
            raise TemnnError(f"{source}: hold complex, NaN or infinite values; give finite real image intensities")
        batch = images.to(torch.float32)
    else:
        batch = torch.as_tensor(real_finite(images, name=source), dtype=torch.float32)
    if batch.ndim not in (3, 4) or 0 in batch.shape:
        raise TemnnError(f"{source}: expected one focal series (C, H, W) or a batch (B, C, H, W) of image intensities, "
                         f"got an array of shape {tuple(batch.shape)}")
    single = batch.ndim == 3
    if single:
        batch = batch[None]
    check_channels(model, int(batch.shape[1]), source=source)
    samplings = _samplings(sampling, len(batch))
    if device is not None:
        model.to(device)
    run_on = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        if tile is None and not resample:
            out = _whole_images(model, task, float(normalizedistance), batch, samplings, batch_size, run_on)
        else:
            out = np.stack([
                _one_series(model, task, float(normalizedistance), series.cpu().numpy(), float(s), tile=tile,
                            overlap=overlap, batch_size=batch_size, run_on=run_on, resample=resample, source=source)
                for series, s in zip(batch, samplings)
            ])
    finally:
        model.train(was_training)
    return out[0] if single else out


def predict_frames(model: Network, frames: Iterable[np.ndarray], *, sampling: float, **options: Any
                   ) -> Iterator[np.ndarray]:
    """Stream frames through :func:`predict`: one frame in memory at a time.

    Parameters
    ----------
    model : Network
        From :func:`temnn.load_model`.
    frames : iterable of numpy.ndarray
        (nx, ny) frames or (C, nx, ny) focal series, e.g. a lazily read stack.
    sampling : float
        Frame sampling [Å/pixel].
    **options
        ``tile``, ``overlap``, ``batch_size``, ``device``, ``resample``, ``source`` as for
        :func:`predict`.

    Yields
    ------
    numpy.ndarray
        float32 (K, nx, ny) prediction of each frame, in order.
    """
    for frame in frames:
        frame = np.asarray(frame, dtype=np.float32)
        yield predict(model, frame if frame.ndim == 3 else frame[None], sampling=sampling, **options)


def _whole_images(model: Network, task: Task, normalizedistance: float, batch: torch.Tensor, samplings: np.ndarray,
                  batch_size: int, run_on: torch.device) -> np.ndarray:
    """Standardise each series at its own sampling and run whole series, ``batch_size`` per pass."""
    sigmas = torch.as_tensor(standardisation_sigma(normalizedistance, samplings))
    outputs = []
    with torch.no_grad():
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size].to(run_on)
            chunk = local_standardise(chunk, sigmas[start : start + batch_size].to(run_on))
            outputs.append(task.activate(model(chunk)).float().cpu())
    return torch.cat(outputs).numpy()


def _one_series(model: Network, task: Task, normalizedistance: float, series: np.ndarray, sampling: float, *,
                tile: int | None, overlap: int, batch_size: int, run_on: torch.device, resample: bool,
                source: str) -> np.ndarray:
    """Resample, standardise the whole series, run it (tiled or whole) and resample back; model in eval mode."""
    from skimage.transform import resize

    shape = series.shape[1:]
    target = inference_sampling(model, sampling, source=source) if resample else sampling
    if target != sampling:
        new_shape = tuple(max(1, round(n * sampling / target)) for n in shape)
        series = resize(series, (series.shape[0], *new_shape), order=1, preserve_range=True,
                        anti_aliasing=target > sampling).astype(np.float32)
        target = sampling * shape[0] / new_shape[0]  # the sampling the rounding actually gives
    with torch.no_grad():
        sigma = standardisation_sigma(normalizedistance, target)
        standardised = local_standardise(torch.from_numpy(series).to(run_on), sigma)
        if tile is None:
            prediction = task.activate(model(standardised[None]))[0].float().cpu().numpy()
        else:
            def model_fn(tiles: np.ndarray) -> np.ndarray:
                logits = model(torch.from_numpy(tiles).to(run_on))
                return task.activate(logits).float().cpu().numpy()

            prediction = predict_tiled(model_fn, standardised.cpu().numpy(), tile=tile, overlap=overlap,
                                       batch_size=batch_size, multiple=size_multiple(model))
    if prediction.shape[1:] != shape:
        prediction = resize(prediction, (prediction.shape[0], *shape), order=1, preserve_range=True,
                            anti_aliasing=prediction.shape[1] > shape[0]).astype(np.float32)
    return prediction


def _samplings(sampling: float | Sequence[float] | np.ndarray, count: int) -> np.ndarray:
    """One positive sampling [Å/pixel] per series of a batch of ``count``, or a TemnnError."""
    try:
        values = np.asarray(sampling, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.full(1, np.nan)
    if values.ndim > 1 or values.size not in (1, count) or not np.all(np.isfinite(values) & (values > 0)):
        raise TemnnError(
            f"sampling must be a positive number in Å/pixel, or one per series of the batch ({count}), "
            f"got {sampling!r}"
        )
    return np.broadcast_to(values.reshape(-1), (count,))
