"""U-net++: a U-net with nested, dense skip pathways (Zhou et al. 2018), FusionNet-style blocks.

Node ``X[i][j]`` works at resolution ``1/2**i`` with ``filters * 2**i`` channels.
The backbone ``X[i][0]`` is the U-net encoder (max-pooling between levels); every other node
convolves the concatenation of all earlier nodes of its level, ``X[i][0..j-1]``, with the
bilinearly up-sampled ``X[i+1][j-1]``. The output is a 1×1 convolution of ``X[0][levels]``
(no deep supervision), giving logits.

References
----------
Z. Zhou, M. M. Rahman Siddiquee, N. Tajbakhsh, J. Liang, UNet++: a nested U-Net architecture
for medical image segmentation, DLMIA (2018).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvBlock
from .unet import _UNetBase, check_size, upsample_to

__all__ = ["UNetPlusPlus"]


class UNetPlusPlus(_UNetBase):
    """U-net++ with residual convolution blocks.

    Parameters
    ----------
    in_channels : int
        Input channels (images in the focal series).
    out_channels : int
        Output channels (label channels).
    levels : int
        Depth of the nested U-net (number of max-pooling steps).
    filters : int
        Channels at full resolution; level ``i`` has ``filters * 2**i``.
    kernel : int
        Convolution kernel side (odd) [pixels].
    block_layers : int
        Convolution layers per block.
    padding_mode : str
        ``"zeros"`` or ``"reflect"``.
    binning : int
        Input binning (default 1: none; see :class:`~temnn.nn.blocks.Network`).

    Examples
    --------
    >>> import torch
    >>> net = UNetPlusPlus(1, 2, levels=2, filters=4, block_layers=3)
    >>> net(torch.zeros(2, 1, 16, 16)).shape
    torch.Size([2, 2, 16, 16])
    """

    arch = "unetpp"
    _levels_meaning = "depth of the nested U-net"
    _filters_meaning = "channels at full resolution"

    def __init__(self, in_channels: int, out_channels: int, **hyperparameters: Any) -> None:
        super().__init__(in_channels, out_channels, **hyperparameters)
        levels, width, block = self.hyperparameters["levels"], self.widths, self.block
        self.levels = levels
        nodes = {}
        for j in range(levels + 1):
            for i in range(levels + 1 - j):
                if j == 0:
                    cin = in_channels if i == 0 else width[i - 1]
                else:
                    cin = j * width[i] + width[i + 1]
                nodes[f"x{i}_{j}"] = ConvBlock(cin, width[i], **block)
        self.nodes = nn.ModuleDict(nodes)
        self.head = nn.Conv2d(width[0], out_channels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        check_size(x, self.levels, self.arch)
        out: dict[tuple[int, int], torch.Tensor] = {}
        for j in range(self.levels + 1):
            for i in range(self.levels + 1 - j):
                if j == 0:
                    h = x if i == 0 else F.max_pool2d(out[i - 1, 0], 2)
                else:
                    same_level = [out[i, k] for k in range(j)]
                    h = torch.cat(same_level + [upsample_to(out[i + 1, j - 1], out[i, 0])], dim=1)
                out[i, j] = self.nodes[f"x{i}_{j}"](h)
        return self.head(out[0, self.levels])
