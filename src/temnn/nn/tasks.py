"""What a network learns follows from the label (DESIGN.md, 'Labels and tasks').

=====================================  ==========  =====================  ==========
label                                  activation  loss (on logits)       metric
=====================================  ==========  =====================  ==========
one channel (Mask, or Disk/Gaussian)   sigmoid     binary cross-entropy   pixel F1
channels that partition the pixels     softmax     cross-entropy          pixel F1
(Mask with background, Disk/Gaussian
with ``null_class``)
several channels without background    sigmoid     binary cross-entropy   pixel F1
(Disk/Gaussian, ``null_class`` false)  (each)
Exitwave (real, imaginary)             linear      mean squared error     RMSE
=====================================  ==========  =====================  ==========

The networks output logits; losses use the numerically stable logit forms
(:func:`torch.nn.functional.binary_cross_entropy_with_logits`, :func:`~torch.nn.functional.cross_entropy`
with probability targets, which also takes the soft targets of Gaussian labels) and the
activation is applied only when predicting. Users never choose loss or activation by hand.

Pixel F1 counts a pixel as foreground when it belongs to any class but the background
(the background channel is the last one, see :mod:`temnn.simulate.labels`); with several
classes a foreground pixel given the wrong class is both a false positive and a false
negative (micro-averaged F1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ..errors import TemnnError
from ..parameters import Parameters

__all__ = ["Task", "task_for"]

_ACTIVATIONS = ("sigmoid", "softmax", "linear")


@dataclass(frozen=True)
class Task:
    """Activation, loss and metric of one label type.

    Parameters
    ----------
    label : str
        Label type of the parameters file (Mask, Disk, Gaussian, Exitwave).
    channels : int
        Output channels.
    activation : str
        ``"sigmoid"``, ``"softmax"`` (over channels) or ``"linear"``.
    """

    label: str
    channels: int
    activation: str

    def __post_init__(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise TemnnError(f"task activation must be one of {_ACTIVATIONS}, got {self.activation!r}")

    @property
    def loss_name(self) -> str:
        """Name of the loss: binary cross-entropy, cross-entropy or mean squared error."""
        return {"sigmoid": "binary cross-entropy", "softmax": "cross-entropy", "linear": "mean squared error"}[
            self.activation
        ]

    @property
    def metric_name(self) -> str:
        """``"pixel_f1"`` for segmentation, ``"rmse"`` for regression."""
        return "rmse" if self.activation == "linear" else "pixel_f1"

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger metric is better (F1) or worse (RMSE)."""
        return self.activation != "linear"

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over batch and pixels, computed in float32 from the logits.

        Parameters
        ----------
        logits : torch.Tensor
            Network output (B, K, H, W).
        target : torch.Tensor
            Label (B, K, H, W); probabilities for segmentation, values for regression.
        """
        logits = logits.float()
        if self.activation == "sigmoid":
            return F.binary_cross_entropy_with_logits(logits, target)
        if self.activation == "softmax":
            return F.cross_entropy(logits, target)
        return F.mse_loss(logits, target)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply the output activation (probabilities, or the regressed values)."""
        if self.activation == "sigmoid":
            return torch.sigmoid(logits)
        if self.activation == "softmax":
            return torch.softmax(logits, dim=1)
        return logits

    def metric_counts(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Additive statistics of a batch, from which :meth:`metric` follows.

        Returns ``(true positives, false positives, false negatives)`` pixel counts for
        segmentation and ``(sum of squared errors, number of values)`` for regression, as a
        float64 tensor, so that sums over batches and processes give the epoch's metric.
        """
        with torch.no_grad():
            if self.activation == "linear":
                err = (logits.double() - target.double()).square().sum()
                return torch.stack([err, torch.tensor(float(target.numel()), dtype=torch.float64, device=err.device)])
            if self.activation == "sigmoid":
                predicted, true = logits > 0, target > 0.5
                hits = predicted & true
            else:
                background = self.channels - 1
                predicted_class, true_class = logits.argmax(dim=1), target.argmax(dim=1)
                predicted, true = predicted_class != background, true_class != background
                hits = true & (predicted_class == true_class)
            tp = hits.sum()
            counts = torch.stack([tp, predicted.sum() - tp, true.sum() - tp])
            return counts.double()

    def metric(self, counts: torch.Tensor) -> float:
        """Pixel F1 = 2TP / (2TP + FP + FN) (1 when there is nothing to find), or RMSE."""
        counts = counts.double().cpu()
        if self.activation == "linear":
            return float(torch.sqrt(counts[0] / counts[1].clamp(min=1)))
        tp, fp, fn = counts.tolist()
        return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (stored in the model card)."""
        return {**asdict(self), "loss": self.loss_name, "metric": self.metric_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Task":
        """Inverse of :meth:`to_dict`."""
        return cls(label=data["label"], channels=int(data["channels"]), activation=data["activation"])


def task_for(parameters: Parameters) -> Task:
    """The task that a parameters file's label defines.

    Parameters
    ----------
    parameters : temnn.Parameters
        The image set's parameters file (``label``, ``num_classes``, ``null_class``).

    Returns
    -------
    Task
        Activation, loss and metric for that label.

    Examples
    --------
    >>> from temnn import Parameters
    >>> task_for(Parameters(label="Disk", image_size=(64, 64), sampling=(0.1, 0.1))).activation
    'softmax'
    >>> task_for(Parameters(label="Exitwave", image_size=(64, 64), sampling=(0.1, 0.1))).loss_name
    'mean squared error'
    """
    channels = parameters.output_channels
    if parameters.label == "Exitwave":
        activation = "linear"
    elif channels == 1:
        activation = "sigmoid"
    elif parameters.label == "Mask" or parameters.null_class:
        activation = "softmax"  # the channels (background last) partition the pixels
    else:
        activation = "sigmoid"  # independent classes without background: multi-label
    return Task(label=parameters.label, channels=channels, activation=activation)
