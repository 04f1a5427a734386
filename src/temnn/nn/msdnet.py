"""Mixed-scale dense network (MSD-net; Pelt & Sethian 2018, PNAS 115, 254).

Every layer ``l`` convolves *all* earlier feature maps, the input images included, with a
``kernel × kernel`` kernel dilated by ``d_l`` (reflection padding), adds a bias, applies a
per-channel PReLU and appends its ``width`` output maps to the stack. A final 1×1
convolution maps the whole stack (``in_channels + layers·width`` maps) to the output
logits. Dilations are drawn uniformly from ``[1, max_dilation]`` with a seed (publication II,
appendix A.1: 50 layers, 9×9 kernel, dilations in [1, 10]), so the same seed gives the
same network.

Choice of variant: the input *is* part of the concatenation for every layer, as in Pelt &
Sethian's original (the thesis' Keras version let the first layer's output replace the
input). Keeping the input lets every layer, and the output layer, see the raw images.

Memory: a naive implementation concatenates a growing tensor for every layer and autograd
keeps each of those copies, so memory grows as ``layers²``. Here one buffer of
``in_channels + layers·width`` maps is filled layer by layer and a custom autograd function
computes the backward pass from that buffer (as Pelt's ``msdnet`` package does), so the
stored activations grow linearly with depth. ``memory_efficient=False`` selects the plain
``torch.cat`` implementation (same parameters, same function), kept as the reference for
tests and benchmarks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TemnnError
from .blocks import ConvLayer, Network, check_kernel, check_positive

__all__ = ["MSDNet", "draw_dilations"]


def draw_dilations(layers: int, max_dilation: int, seed: int) -> list[int]:
    """Dilation of each layer, uniform on the integers ``1 … max_dilation``.

    Parameters
    ----------
    layers : int
        Number of layers.
    max_dilation : int
        Largest dilation [pixels].
    seed : int
        Seed; the same seed gives the same dilations.

    Returns
    -------
    list of int
        One dilation per layer.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x4D5344]))  # 'MSD': own stream
    return [int(d) for d in rng.integers(1, max_dilation, size=layers, endpoint=True)]


class MSDNet(Network):
    """Mixed-scale dense network.

    Parameters
    ----------
    in_channels : int
        Input channels (images in the focal series).
    out_channels : int
        Output channels (label channels).
    layers : int
        Number of dilated convolution layers (publication II: 50).
    width : int
        Feature maps added by each layer (Pelt & Sethian: 1).
    kernel : int
        Kernel side (odd) [pixels] (publication II: 9).
    max_dilation : int
        Dilations are drawn from ``1 … max_dilation`` [pixels] (publication II: 10).
    seed : int
        Seed of the dilations.
    dilations : sequence of int, optional
        Explicit dilations (one per layer), overriding the seeded draw; model cards store them.
    memory_efficient : bool
        Use the shared feature buffer and custom backward (linear memory in depth).

    Notes
    -----
    Trainable parameters: ``Σ_l [(C_in + l·w)·w·k² + 2w] + (C_in + L·w)·C_out + C_out``
    (weights, bias and PReLU slope of each layer, then the 1×1 output convolution).

    Examples
    --------
    >>> import torch
    >>> net = MSDNet(1, 2, layers=4, kernel=3, max_dilation=2)
    >>> net(torch.zeros(1, 1, 16, 16)).shape
    torch.Size([1, 2, 16, 16])
    """

    arch = "msdnet"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        layers: int = 50,
        width: int = 1,
        kernel: int = 9,
        max_dilation: int = 10,
        seed: int = 0,
        dilations: Sequence[int] | None = None,
        memory_efficient: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels)
        check_positive(layers, "--layers", "number of MSD-net layers")
        check_positive(width, "--filters", "feature maps added by each MSD-net layer")
        check_positive(max_dilation, "max_dilation", "largest dilation in pixels")
        check_kernel(kernel)
        if dilations is None:
            dilations = draw_dilations(layers, max_dilation, seed)
        dilations = [int(d) for d in dilations]
        if len(dilations) != layers or not all(1 <= d <= max_dilation for d in dilations):
            raise TemnnError(
                f"MSD-net 'dilations' must be {layers} integers in [1, {max_dilation}] (one per layer), got {dilations}"
            )
        self.hyperparameters = dict(
            layers=layers, width=width, kernel=kernel, max_dilation=max_dilation, seed=seed, dilations=dilations
        )
        self.memory_efficient = memory_efficient
        self.layers = nn.ModuleList(
            ConvLayer(in_channels + i * width, width, kernel, dilation=d, padding_mode="reflect")
            for i, d in enumerate(dilations)
        )
        self.head = nn.Conv2d(in_channels + layers * width, out_channels, 1)
        self._spec = (tuple(dilations), kernel, width)

    @property
    def padding(self) -> int:
        """Widest reflection padding of any layer [pixels]; images must be larger than this."""
        dilations, kernel, _ = self._spec
        return max(dilations) * (kernel - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if min(x.shape[-2:]) <= self.padding:
            raise TemnnError(
                f"msdnet with --kernel {self._spec[1]} and dilations up to {max(self._spec[0])} reflects "
                f"{self.padding} pixels at the borders, so images must be larger than {self.padding} pixels; "
                f"got {tuple(x.shape[-2:])}. Use larger images or a smaller --kernel"
            )
        if self.memory_efficient:
            params = [p for layer in self.layers for p in (layer.conv.weight, layer.conv.bias, layer.act.weight)]
            if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
                features = _MixedScaleDense.apply(x, self._spec, *params)
            else:
                features = _forward_features(x, self._spec, params, keep_preactivation=False)[0]
        else:
            features = x
            for layer in self.layers:
                features = torch.cat([features, layer(features)], dim=1)
        return self.head(features)


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype


def _forward_features(
    x: torch.Tensor, spec: tuple, params: Sequence[torch.Tensor], *, keep_preactivation: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fill the feature buffer layer by layer; optionally keep the pre-activations for backward."""
    dilations, kernel, width = spec
    dtype = _compute_dtype(x)
    batch, cin, rows, cols = x.shape
    with torch.autocast(x.device.type, enabled=False):
        features = x.new_empty(batch, cin + len(dilations) * width, rows, cols, dtype=dtype)
        features[:, :cin] = x
        pre = x.new_empty(batch, len(dilations) * width, rows, cols, dtype=dtype) if keep_preactivation else None
        for i, d in enumerate(dilations):
            weight, bias, slope = (p.to(dtype) for p in params[3 * i : 3 * i + 3])
            c = cin + i * width
            pad = d * (kernel - 1) // 2
            z = F.conv2d(F.pad(features[:, :c], (pad,) * 4, mode="reflect"), weight, bias, dilation=d)
            if pre is not None:
                pre[:, i * width : (i + 1) * width] = z
            features[:, c : c + width] = F.prelu(z, slope)
    return features, pre


class _MixedScaleDense(torch.autograd.Function):
    """All MSD layers as one autograd node; backward walks the layers in reverse over the buffer.

    Written by hand because autograd cannot see that layer ``l`` writes only slice ``l`` of a
    shared buffer: in-place writes into a tensor that earlier convolutions saved would fail
    its version check, and ``torch.cat`` copies make memory quadratic in depth.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, spec: tuple, *params: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        features, pre = _forward_features(x, spec, params, keep_preactivation=True)
        ctx.spec = spec
        ctx.cin = x.shape[1]
        ctx.x_dtype = x.dtype
        ctx.save_for_backward(features, pre, *params)
        return features

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_features: torch.Tensor):  # type: ignore[override]
        features, pre, *params = ctx.saved_tensors
        dilations, kernel, width = ctx.spec
        dtype = features.dtype
        cin = ctx.cin
        accumulate = torch.promote_types(dtype, torch.float32)  # at least float32, even under bf16/fp16 autocast
        grad = grad_features.to(accumulate, copy=True)
        grads: list[torch.Tensor | None] = [None] * len(params)
        for i in reversed(range(len(dilations))):
            weight, bias, slope = params[3 * i : 3 * i + 3]
            c = cin + i * width
            pad = dilations[i] * (kernel - 1) // 2
            go = grad[:, c : c + width]
            z = pre[:, i * width : (i + 1) * width].to(accumulate)
            positive = z > 0
            # PReLU backward (same convention as torch: slope gradient where z <= 0).
            grad_z = torch.where(positive, go, go * slope.to(accumulate).view(1, -1, 1, 1))
            grads[3 * i + 2] = (
                torch.where(positive, 0.0, go * z).sum(dim=(0, 2, 3)).reshape(slope.shape).to(slope.dtype)
            )
            need_input = i > 0 or ctx.needs_input_grad[0]
            padded = F.pad(features[:, :c], (pad,) * 4, mode="reflect")
            grad_padded, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
                grad_z.to(dtype),
                padded,
                weight.to(dtype),
                [width],
                [1, 1],
                [0, 0],
                [dilations[i], dilations[i]],
                False,
                [0, 0],
                1,
                [need_input, True, True],
            )
            grads[3 * i] = grad_weight.to(weight.dtype)
            grads[3 * i + 1] = grad_bias.to(bias.dtype)
            if need_input:
                grad[:, :c] += torch.ops.aten.reflection_pad2d_backward(grad_padded, features[:, :c], [pad] * 4).to(
                    accumulate
                )
        grad_x = grad[:, :cin].to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
        return (grad_x, None, *grads)
