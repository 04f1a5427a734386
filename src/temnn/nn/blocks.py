"""Building blocks shared by the U-net and U-net++: convolution layers and residual blocks.

A :class:`ConvLayer` is a 'same'-size convolution followed by a PReLU (per-channel
slope), the hidden-layer activation of every temnn network (thesis section 3.3,
figure 3.8). A :class:`ConvBlock` is the FusionNet-style block of publication II,
appendix A.1: several convolution layers with a short residual skip that adds the
output of the first layer to the input of the last one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TemnnError

__all__ = ["Network", "ConvLayer", "ConvBlock", "check_kernel", "check_positive"]


def check_positive(value: Any, option: str, meaning: str) -> int:
    """Validate a positive integer hyper-parameter, naming the option on failure.

    Parameters
    ----------
    value : int
        The value given.
    option : str
        Command-line option (or argument name) that set it.
    meaning : str
        What the number counts, for the error message.

    Returns
    -------
    int
        The value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TemnnError(f"{option} must be a positive integer ({meaning}), got {value!r}")
    return value


class Network(nn.Module):
    """Base class of the temnn architectures: records what is needed to rebuild the network.

    Subclasses set :attr:`arch` and fill :attr:`hyperparameters` with JSON-ready values;
    ``type(self)(in_channels, out_channels, **hyperparameters)`` rebuilds the same network
    (this is what a model card stores, so loading never executes code from a file).
    The module returns *logits*: the task's activation is applied by :func:`temnn.nn.predict`.

    Parameters
    ----------
    in_channels : int
        Input channels: images in the focal series.
    out_channels : int
        Output channels: channels of the label.
    binning : int
        Average ``binning`` × ``binning`` input pixels before the first layer and up-sample
        the logits back (default 1: none; see :meth:`forward`).
    """

    arch: ClassVar[str] = ""
    #: Whether the network runs faster on a CPU with channels_last tensors
    #: (benchmarks/train.py: 1.1-1.6x for the U-nets, 4x slower for the MSD-net).
    cpu_channels_last: ClassVar[bool] = False

    def __init__(self, in_channels: int, out_channels: int, *, binning: int = 1) -> None:
        super().__init__()
        self.in_channels = check_positive(in_channels, "in_channels", "images in the focal series")
        self.out_channels = check_positive(out_channels, "out_channels", "channels of the label")
        check_positive(binning, "--binning", "input pixels averaged along each axis before the first layer")
        self.hyperparameters: dict[str, Any] = {"binning": binning}

    @property
    def config(self) -> dict[str, Any]:
        """Architecture name, channels and hyper-parameters (JSON-ready)."""
        return {
            "name": self.arch,
            "input_channels": self.in_channels,
            "output_channels": self.out_channels,
            "hyperparameters": dict(self.hyperparameters),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a (B, in_channels, H, W) batch, (B, out_channels, H, W).

        With the hyper-parameter ``binning`` N > 1 the input is binned N × N (the mean of each
        block) before :meth:`features` and the logits are up-sampled bilinearly to the input's
        size: a network for finely sampled images (Au at 0.07-0.08 Å/pixel, publication II)
        then works on 1/N² of the pixels, with N² the dose per pixel and a receptive field N
        times as wide in Å.
        """
        self.check_input(x)
        binning = self.hyperparameters["binning"]
        if binning == 1:
            return self.features(x)
        # ceil_mode: a last partial block is the mean of the pixels it has (avg_pool2d leaves
        # the overhang out), so any image size works
        binned = F.avg_pool2d(x, binning, ceil_mode=True)
        return F.interpolate(self.features(binned), size=x.shape[-2:], mode="bilinear", align_corners=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a checked (and binned) batch, at its own size; each architecture's own network."""
        raise NotImplementedError

    def check_input(self, x: torch.Tensor) -> None:
        """Raise :class:`~temnn.TemnnError` unless ``x`` is a (B, in_channels, H, W) batch."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise TemnnError(
                f"{self.arch} expects images of shape (batch, {self.in_channels}, rows, columns) "
                f"({self.in_channels} = images in the focal series it was trained on), got {tuple(x.shape)}"
            )


def check_kernel(kernel: int, option: str = "--kernel") -> int:
    """Validate a convolution kernel size (odd, so that 'same' padding is symmetric).

    Parameters
    ----------
    kernel : int
        Kernel side length [pixels].
    option : str
        Name of the option that set it, for the error message.

    Returns
    -------
    int
        The kernel size.
    """
    if isinstance(kernel, bool) or not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
        raise TemnnError(f"{option} must be an odd positive integer (kernel side in pixels, e.g. 5), got {kernel!r}")
    return kernel


class ConvLayer(nn.Module):
    """Convolution with 'same' padding followed by a per-channel PReLU.

    Parameters
    ----------
    in_channels : int
        Input feature maps.
    out_channels : int
        Output feature maps.
    kernel : int
        Kernel side length (odd) [pixels].
    dilation : int
        Kernel dilation [pixels].
    padding_mode : str
        ``"zeros"`` or ``"reflect"`` (any mode of :class:`torch.nn.Conv2d`).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, *, dilation: int = 1, padding_mode: str = "zeros"
    ) -> None:
        super().__init__()
        check_kernel(kernel)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            padding_mode=padding_mode,
        )
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class ConvBlock(nn.Module):
    """FusionNet-style block: ``layers`` conv layers with a short residual skip.

    The output of the first layer is added to the input of the last layer
    (publication II, appendix A.1: five layers, skip from the output of the first to
    the input of the fifth). With fewer than three layers there is no skip.

    Parameters
    ----------
    in_channels : int
        Input feature maps (only the first layer sees them).
    out_channels : int
        Feature maps of every layer in the block.
    kernel : int
        Kernel side length (odd) [pixels].
    layers : int
        Convolution layers in the block (≥ 1).
    padding_mode : str
        Padding of every convolution (``"zeros"`` or ``"reflect"``).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, *, layers: int = 5, padding_mode: str = "zeros"
    ) -> None:
        super().__init__()
        check_positive(layers, "--block-layers", "convolution layers per block")
        channels = [in_channels] + [out_channels] * layers
        self.layers = nn.ModuleList(
            ConvLayer(channels[i], channels[i + 1], kernel, padding_mode=padding_mode) for i in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.layers[0](x)
        if len(self.layers) < 3:
            return self.layers[1](first) if len(self.layers) == 2 else first
        h = first
        for layer in self.layers[1:-1]:
            h = layer(h)
        return self.layers[-1](h + first)
