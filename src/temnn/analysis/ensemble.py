"""Several networks on the same input: their mean and where they disagree.

A network can fail without warning on an input unlike its training data
(publication I, section 4: inserted atoms, missed symmetry breaking). Networks
trained separately rarely fail in the same way, so the places where they
disagree flag the places not to trust (publication I: "the kinds of errors shown
here can be detected by training two or more different networks to similar data
sets, and detecting when the networks differ in their prediction").
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np

from ..errors import TemnnError

__all__ = ["EnsemblePrediction", "ensemble_predict"]


@dataclass
class EnsemblePrediction:
    """Mean output of several models and their per-pixel disagreement.

    Attributes
    ----------
    mean
        (B, C, nx, ny) mean of the model outputs [output units].
    disagreement
        Regression: (B, C, nx, ny) standard deviation across models [output
        units]. Segmentation: (B, nx, ny) fraction of models whose class differs
        from the majority class [0 to 1 − 1/K].
    majority
        Segmentation: (B, nx, ny) majority class of each pixel (the lowest class on
        a tie); None for regression.
    """

    mean: np.ndarray
    disagreement: np.ndarray
    majority: np.ndarray | None = None


def ensemble_predict(models: Sequence[Callable[[Any], Any]], inputs: Any, *,
                     task: Literal["regression", "segmentation"] = "segmentation",
                     threshold: float = 0.5) -> EnsemblePrediction:
    """Apply several models to the same input; return their mean and disagreement map.

    Parameters
    ----------
    models
        Callables mapping a (B, C, nx, ny) array or tensor to a (B, K, nx, ny)
        output (PyTorch modules in eval mode, or any function). Models run one
        at a time and only running sums are kept, so memory does not grow with
        the number of models.
    inputs
        The (B, C, nx, ny) batch, in whatever type the models take.
    task
        ``"segmentation"`` (outputs are class probabilities; the class of a pixel
        is the argmax channel, or ``output >= threshold`` for a single channel) or
        ``"regression"`` (e.g. exit waves; disagreement is the standard deviation).
    threshold
        Probability above which a single-channel (sigmoid) output is the object
        class [0-1].

    Returns
    -------
    EnsemblePrediction

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 1, 2, 2))
    >>> a = lambda x: np.stack([np.full((2, 2), 0.9), np.full((2, 2), 0.1)])[None]
    >>> b = lambda x: np.stack([np.array([[0.9, 0.2], [0.9, 0.9]]), np.array([[0.1, 0.8], [0.1, 0.1]])])[None]
    >>> ensemble_predict([a, a, b], x).disagreement[0].round(2).tolist()
    [[0.0, 0.33], [0.0, 0.0]]
    """
    if task not in ("regression", "segmentation"):
        raise TemnnError(f"task: expected 'regression' or 'segmentation', got {task!r}")
    if len(models) == 0:
        raise TemnnError("models: give at least one model")
    total = total_squares = votes = None
    # Gradients are never needed here; only switch them off when PyTorch is already in use.
    no_grad = sys.modules["torch"].no_grad() if "torch" in sys.modules else contextlib.nullcontext()
    with no_grad:
        for n, model in enumerate(models, start=1):
            output = _to_numpy(model(inputs))
            if output.ndim != 4:
                raise TemnnError(f"model {n - 1} returned shape {output.shape}; expected (B, K, nx, ny)")
            if total is None:
                total = np.zeros(output.shape)
                if task == "regression":
                    total_squares = np.zeros(output.shape)
                else:  # a single sigmoid channel votes for class 0 or 1
                    classes = 2 if output.shape[1] == 1 else output.shape[1]
                    votes = np.zeros((output.shape[0], classes) + output.shape[2:], np.int32)
            elif output.shape != total.shape:
                raise TemnnError(f"model {n - 1} returned shape {output.shape}, the first model {total.shape}")
            total += output
            if task == "regression":
                total_squares += output**2
            else:
                label = (output[:, 0] >= threshold).astype(np.intp) if output.shape[1] == 1 else output.argmax(axis=1)
                np.put_along_axis(votes, label[:, None], np.take_along_axis(votes, label[:, None], 1) + 1, axis=1)
    mean = total / n
    if task == "regression":
        variance = np.maximum(total_squares / n - mean**2, 0.0)
        return EnsemblePrediction(mean, np.sqrt(variance))
    majority = votes.argmax(axis=1)
    return EnsemblePrediction(mean, 1.0 - votes.max(axis=1) / n, majority)


def _to_numpy(output: Any) -> np.ndarray:
    """A model output (array or tensor) as a float64 NumPy array."""
    if hasattr(output, "detach"):
        output = output.detach().cpu().numpy()
    return np.asarray(output, dtype=np.float64)
