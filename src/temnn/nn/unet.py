"""U-net with FusionNet-style residual blocks (publication II, appendix A.1; Madsen et al. 2018).

Encoding path: convolution blocks alternating with 2×2 max-pooling, the channels doubling
at every level. Decoding path: bilinear up-sampling, concatenation with the encoder
output of the same resolution (long skip), a block with half the channels. A 1×1
convolution maps the last block to the output channels (logits).

References
----------
O. Ronneberger, P. Fischer, T. Brox, U-Net: convolutional networks for biomedical image
segmentation, MICCAI (2015). T. M. Quan, D. G. C. Hildebrand, W.-K. Jeong, FusionNet: a deep
fully residual convolutional neural network for image segmentation in connectomics (2016).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TemnnError
from .blocks import ConvBlock, Network, check_kernel, check_positive

__all__ = ["UNet", "upsample_to", "check_size"]


def check_size(x: torch.Tensor, levels: int, arch: str) -> None:
    """Raise :class:`~temnn.TemnnError` when ``levels`` max-poolings would shrink ``x`` below 1 pixel."""
    if min(x.shape[-2:]) < 2**levels:
        raise TemnnError(
            f"{arch} with {levels} levels needs images of at least {2**levels}×{2**levels} pixels, "
            f"got {tuple(x.shape[-2:])}; use larger images or fewer --levels"
        )


def upsample_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear up-sampling of ``x`` to the spatial size of ``like``.

    Matching the size of the skip tensor (rather than a fixed factor 2) lets images whose
    sides are not multiples of ``2**levels`` pass through the network.
    """
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class _UNetBase(Network):
    """What U-net and U-net++ share: hyperparameters, their checks, the channel widths per level.

    Sets ``hyperparameters``, ``widths`` (``filters * 2**level`` for level 0 … ``levels``) and
    ``block`` (the keyword arguments of every :class:`~temnn.nn.blocks.ConvBlock`); the
    subclass builds its modules from them and implements :meth:`~temnn.nn.blocks.Network.features`.
    """

    cpu_channels_last = True
    _levels_meaning = "number of down-sampling steps"
    _filters_meaning = "channels of the first block"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        levels: int = 4,
        filters: int = 32,
        kernel: int = 5,
        block_layers: int = 5,
        padding_mode: str = "zeros",
        binning: int = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, binning=binning)
        check_positive(levels, "--levels", self._levels_meaning)
        check_positive(filters, "--filters", self._filters_meaning)
        check_kernel(kernel)
        self.hyperparameters.update(
            levels=levels, filters=filters, kernel=kernel, block_layers=block_layers, padding_mode=padding_mode
        )
        self.widths = [filters * 2**level for level in range(levels + 1)]
        self.block = dict(kernel=kernel, layers=block_layers, padding_mode=padding_mode)


class UNet(_UNetBase):
    """U-net with residual convolution blocks.

    Parameters
    ----------
    in_channels : int
        Input channels (images in the focal series).
    out_channels : int
        Output channels (label channels).
    levels : int
        Number of max-pooling steps (the bottom block works at 1/2**levels resolution).
    filters : int
        Channels of the first block; level ``l`` has ``filters * 2**l``.
    kernel : int
        Convolution kernel side (odd) [pixels]; publication II used 5.
    block_layers : int
        Convolution layers per block (publication II: 5).
    padding_mode : str
        ``"zeros"`` (Keras 'same', as in the publications) or ``"reflect"``.
    binning : int
        Input binning (default 1: none; see :class:`~temnn.nn.blocks.Network`).

    Examples
    --------
    >>> import torch
    >>> net = UNet(3, 4, levels=2, filters=4, block_layers=3)
    >>> net(torch.zeros(1, 3, 20, 20)).shape
    torch.Size([1, 4, 20, 20])
    """

    arch = "unet"

    def __init__(self, in_channels: int, out_channels: int, **hyperparameters: Any) -> None:
        super().__init__(in_channels, out_channels, **hyperparameters)
        levels, width, block = self.hyperparameters["levels"], self.widths, self.block
        self.down = nn.ModuleList(
            ConvBlock(in_channels if level == 0 else width[level - 1], width[level], **block)
            for level in range(levels + 1)
        )
        self.up = nn.ModuleList(
            ConvBlock(width[level] + width[level + 1], width[level], **block) for level in range(levels)
        )
        self.head = nn.Conv2d(width[0], out_channels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        check_size(x, len(self.up), self.arch)
        skips = []
        for level, block in enumerate(self.down):
            if level > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        for level in reversed(range(len(self.up))):
            skip = skips[level]
            x = self.up[level](torch.cat([skip, upsample_to(x, skip)], dim=1))
        return self.head(x)
