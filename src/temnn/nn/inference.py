"""Apply a trained network: local standardisation, forward pass, the task's output activation."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .standardise import local_standardise, standardisation_sigma
from ..checks import real_finite
from .tiling import check_channels
from ..errors import TemnnError
from .blocks import Network
from .tasks import Task

__all__ = ["predict"]


def predict(
    model: Network,
    images: np.ndarray | torch.Tensor,
    *,
    sampling: float | Sequence[float] | np.ndarray,
    batch_size: int = 4,
    task: Task | None = None,
    normalizedistance: float | None = None,
) -> np.ndarray:
    """Probabilities (segmentation) or exit wave (regression) for raw HR-TEM images.

    The images are standardised exactly as in training (Gaussian of ``normalizedistance``
    Å at this ``sampling``), so pass intensities, not pre-processed images. Whole images
    go through the network at once; tiling of very large images is the caller's job.

    Parameters
    ----------
    model : Network
        A network from :func:`temnn.load_model` (its card supplies task and
        normalisation distance).
    images : numpy.ndarray or torch.Tensor
        One focal series (C, H, W) or a batch (B, C, H, W) of image intensities.
    sampling : float or sequence of float
        Image sampling [Å/pixel]: one value, or one per series of a batch (images of a
        simulated set each have their own).
    batch_size : int
        Series per forward pass.
    task : Task, optional
        Overrides the model's task (needed for a network without a card).
    normalizedistance : float, optional
        Overrides the card's standardisation width [Å].

    Returns
    -------
    numpy.ndarray
        float32 (K, H, W) or (B, K, H, W): sigmoid/softmax probabilities or the linear output.
    """
    task = task or getattr(model, "task", None)
    card = getattr(model, "card", None) or {}
    normalizedistance = normalizedistance or card.get("normalizedistance")
    if task is None or normalizedistance is None:
        raise TemnnError("predict needs a model loaded with temnn.load_model (or give task= and normalizedistance=)")
    if torch.is_tensor(images):  # checked where it lies (a GPU tensor stays there)
        if images.is_complex() or not bool(torch.isfinite(images).all()):
            raise TemnnError("images: hold complex, NaN or infinite values; give finite real image intensities")
        batch = images.to(torch.float32)
    else:
        batch = torch.as_tensor(real_finite(images, name="images"), dtype=torch.float32)
    if batch.ndim not in (3, 4) or 0 in batch.shape:
        raise TemnnError(f"images: expected one focal series (C, H, W) or a batch (B, C, H, W) of image intensities, "
                         f"got an array of shape {tuple(batch.shape)}")
    single = batch.ndim == 3
    if single:
        batch = batch[None]
    check_channels(model, int(batch.shape[1]), source="images")
    sigmas = torch.as_tensor(standardisation_sigma(normalizedistance, _samplings(sampling, len(batch))))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size].to(device)
            chunk = local_standardise(chunk, sigmas[start : start + batch_size].to(device))
            outputs.append(task.activate(model(chunk)).float().cpu())
    model.train(was_training)
    out = torch.cat(outputs).numpy()
    return out[0] if single else out


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
