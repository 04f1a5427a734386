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

Speed: convolving the growing stack once per layer (``C → w`` channels, ``C`` up to 50) is a
shape convolution libraries run at a few % of their dense rate. On the CPU (float32 and
float64) compiled loops (:mod:`temnn.nn.msdnet_kernels`) correlate all earlier maps into a
layer's maps in one pass, vectorised over pixels, and its backward pass is written by hand
(:class:`_MixedScaleDenseCPU`). Elsewhere (GPUs, reduced precision) each new map group is
convolved once per dilation, as soon as it exists, into the pre-activations of *all* later
layers with that dilation (``w → n·w`` channels, see :class:`_PushPlan`); the backward pass
mirrors it. Same function, same parameters (``benchmarks/msdnet.py`` measures all three).

Memory: a naive implementation concatenates a growing tensor for every layer and autograd
keeps each of those copies, so memory grows as ``layers²``. Here one buffer of
``in_channels + layers·width`` maps is filled layer by layer and a custom autograd function
computes the backward pass from that buffer and the pre-activations (as Pelt's ``msdnet``
package does), so the stored activations grow linearly with depth. ``memory_efficient=False``
selects the plain ``torch.cat`` implementation (same parameters, same function), kept as a
reference for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import TemnnError
from . import msdnet_kernels as kernels
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
    compiled_loops : bool
        With ``memory_efficient``, run float32/float64 CPU inputs through the compiled loops of
        :mod:`temnn.nn.msdnet_kernels`; otherwise (and on GPUs) each map is pushed into the
        later layers by PyTorch convolutions. Same function, same parameters.
    binning : int
        Input binning (default 1: none; see :class:`~temnn.nn.blocks.Network`).

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
        compiled_loops: bool = True,
        binning: int = 1,
    ) -> None:
        super().__init__(in_channels, out_channels, binning=binning)
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
        self.hyperparameters.update(
            layers=layers, width=width, kernel=kernel, max_dilation=max_dilation, seed=seed, dilations=dilations
        )
        self.memory_efficient = memory_efficient
        self.compiled_loops = compiled_loops
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

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) <= self.padding:
            binning = self.hyperparameters["binning"]
            binned = f" (after binning {binning} × {binning})" if binning > 1 else ""
            raise TemnnError(
                f"msdnet with --kernel {self._spec[1]} and dilations up to {max(self._spec[0])} reflects "
                f"{self.padding} pixels at the borders, so images must be larger than {self.padding} pixels{binned}; "
                f"got {tuple(x.shape[-2:])}. Use larger images or a smaller --kernel"
            )
        if self.memory_efficient:
            params = [p for layer in self.layers for p in (layer.conv.weight, layer.conv.bias, layer.act.weight)]
            compiled = self.compiled_loops and _compiled_loops_apply(x)
            if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
                function = _MixedScaleDenseCPU if compiled else _MixedScaleDense
                features = function.apply(x, self._spec, *params)
            elif compiled:
                features = _forward_cpu(x, self._spec, params, keep_preactivation=False)[0]
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


class _PushPlan:
    """Which convolutions carry each feature map to the later layers that read it.

    Layer ``j`` reads every earlier map with its own dilation ``d_j``. Instead of convolving
    the growing stack once per layer (``C → w`` channels: a shape convolution libraries run at
    a few % of their speed), each map group is convolved once per dilation, *as soon as it
    exists*, into the pre-activations of all later layers with that dilation (``w → n·w``
    channels). The pre-activation buffer is ordered by dilation, so those later layers are
    one contiguous slice, and the weights are gathered into one tensor per dilation.

    Parameters
    ----------
    dilations : tuple of int
        Dilation of each layer [pixels].
    kernel : int
        Kernel side [pixels].
    width : int
        Maps added by each layer.
    in_channels : int
        Input maps.
    """

    def __init__(self, dilations: tuple[int, ...], kernel: int, width: int, in_channels: int) -> None:
        self.kernel, self.width, self.in_channels = kernel, width, in_channels
        self.groups = sorted(set(dilations))
        members = {d: [j for j, dj in enumerate(dilations) if dj == d] for d in self.groups}
        self.layers_of = [members[d] for d in self.groups]
        self.offset = []  # first pre-activation channel of each dilation group
        self.row = [0] * len(dilations)  # (group, index in group) of each layer
        start = 0
        for g, layers in enumerate(self.layers_of):
            self.offset.append(start)
            for r, j in enumerate(layers):
                self.row[j] = (g, r)
            start += len(layers) * width
        # Pushes of source s (-1: the input; j: layer j's maps): (group, first row) per dilation.
        self.pushes = {
            s: [
                (g, next(r for r, j in enumerate(layers) if j > s))
                for g, layers in enumerate(self.layers_of)
                if layers[-1] > s
            ]
            for s in range(-1, len(dilations))
        }

    def channels(self, j: int) -> slice:
        """Pre-activation channels of layer ``j`` in the dilation-ordered buffer."""
        g, r = self.row[j]
        start = self.offset[g] + r * self.width
        return slice(start, start + self.width)

    def sources(self, s: int) -> slice:
        """Feature-map channels of source ``s`` (-1: the input images)."""
        if s < 0:
            return slice(0, self.in_channels)
        start = self.in_channels + s * self.width
        return slice(start, start + self.width)

    def gather(self, weights: Sequence[torch.Tensor], dtype: torch.dtype) -> list[torch.Tensor]:
        """One weight tensor per dilation: rows of its layers, all feature-map columns (zeros unread)."""
        total = self.in_channels + len(self.row) * self.width
        gathered = []
        for layers in self.layers_of:
            w = weights[layers[0]].new_zeros(len(layers) * self.width, total, self.kernel, self.kernel, dtype=dtype)
            for r, j in enumerate(layers):
                w[r * self.width : (r + 1) * self.width, : weights[j].shape[1]] = weights[j]
            gathered.append(w)
        return gathered

    def pad(self, g: int) -> int:
        """Reflection padding of dilation group ``g`` [pixels]."""
        return self.groups[g] * (self.kernel - 1) // 2


_PLANS: dict[tuple, _PushPlan] = {}


def _plan(spec: tuple, in_channels: int) -> _PushPlan:
    key = (*spec, in_channels)
    if key not in _PLANS:
        _PLANS[key] = _PushPlan(*spec, in_channels)
    return _PLANS[key]


def _forward_features(
    x: torch.Tensor, spec: tuple, params: Sequence[torch.Tensor], *, keep_preactivation: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Fill the feature buffer layer by layer, pushing each new map into all later layers.

    Returns the feature buffer and, when asked, the pre-activations (dilation-ordered).
    """
    dtype = _compute_dtype(x)
    plan = _plan(spec, x.shape[1])
    layers = len(spec[0])
    batch, cin, rows, cols = x.shape
    with torch.autocast(x.device.type, enabled=False):
        weights = plan.gather(params[0::3], dtype)
        features = x.new_empty(batch, cin + layers * plan.width, rows, cols, dtype=dtype)
        features[:, :cin] = x
        pre = x.new_empty(batch, layers * plan.width, rows, cols, dtype=dtype)
        for j in range(layers):
            pre[:, plan.channels(j)] = params[3 * j + 1].to(dtype).view(1, -1, 1, 1)
        for s in range(-1, layers):
            src = plan.sources(s)
            if s >= 0:
                z = pre[:, plan.channels(s)]
                features[:, src] = F.prelu(z, params[3 * s + 2].to(dtype))
            for g, first in plan.pushes[s]:
                p = plan.pad(g)
                rows_ = slice(first * plan.width, None)
                out = F.conv2d(
                    F.pad(features[:, src], (p,) * 4, mode="reflect"),
                    weights[g][rows_, src],
                    dilation=plan.groups[g],
                )
                pre[:, plan.offset[g] + first * plan.width : plan.offset[g] + out.shape[1] + first * plan.width] += out
    return features, pre if keep_preactivation else None


def _fold_reflection(grad_padded: torch.Tensor, pad: int) -> torch.Tensor:
    """Gradient of ``F.pad(x, (pad,) * 4, mode="reflect")`` with respect to ``x``.

    Same result as ``aten.reflection_pad2d_backward``, as a few sliced additions, which run
    several times faster on the CPU.
    """
    if pad == 0:
        return grad_padded
    cols = grad_padded[..., pad:-pad].clone()
    cols[..., 1 : pad + 1] += grad_padded[..., :pad].flip(-1)
    cols[..., -pad - 1 : -1] += grad_padded[..., -pad:].flip(-1)
    rows = cols[..., pad:-pad, :].clone()
    rows[..., 1 : pad + 1, :] += cols[..., :pad, :].flip(-2)
    rows[..., -pad - 1 : -1, :] += cols[..., -pad:, :].flip(-2)
    return rows


def _phases(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """Split ``(B, C, S, S')`` (sides divisible by ``dilation``) into its ``dilation²`` sub-lattices.

    A convolution dilated by ``d`` is an undilated one on each sub-lattice (stacked along the
    batch axis); convolution libraries compute weight gradients far faster without dilation.
    """
    b, c, rows, cols = x.shape
    x = x.reshape(b, c, rows // dilation, dilation, cols // dilation, dilation)
    return x.permute(3, 5, 0, 1, 2, 4).reshape(dilation * dilation * b, c, rows // dilation, cols // dilation)


class _MixedScaleDense(torch.autograd.Function):
    """All MSD layers as one autograd node; backward walks the layers in reverse over the buffer.

    Written by hand because autograd cannot see that each push writes only a slice of a
    shared buffer: in-place writes into a tensor that earlier convolutions saved would fail
    its version check, and ``torch.cat`` copies make memory quadratic in depth. Only the
    feature maps and pre-activations are saved (linear in depth).

    Backward mirrors the forward push: once the pre-activation gradient of layer ``j`` is
    complete, it is convolved (flipped kernel, ``w → C_j`` channels) into the gradients of
    all maps it read. The weight gradients of all layers sharing a dilation are then one
    convolution weight gradient, computed undilated on the ``d²`` sub-lattices.
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
        plan = _plan(ctx.spec, ctx.cin)
        dilations, kernel, width = ctx.spec
        dtype = features.dtype
        accumulate = torch.promote_types(dtype, torch.float32)  # at least float32, even under bf16/fp16 autocast
        grad = grad_features.to(accumulate, copy=True)
        grad_pre = torch.empty_like(pre, dtype=accumulate)
        grads: list[torch.Tensor | None] = [None] * len(params)
        for j in reversed(range(len(dilations))):
            weight, bias, slope = params[3 * j : 3 * j + 3]
            src = plan.sources(j)
            go = grad[:, src]
            z = pre[:, plan.channels(j)].to(accumulate)
            positive = z > 0
            # PReLU backward (same convention as torch: slope gradient where z <= 0).
            grad_z = torch.where(positive, go, go * slope.to(accumulate).view(1, -1, 1, 1))
            grad_pre[:, plan.channels(j)] = grad_z
            grad_slope = torch.where(positive, 0.0, go * z).sum(dim=(0, 2, 3))
            grads[3 * j + 2] = grad_slope.reshape(slope.shape).to(slope.dtype)
            grads[3 * j + 1] = grad_z.sum(dim=(0, 2, 3)).to(bias.dtype)
            if j == 0 and not ctx.needs_input_grad[0]:
                continue
            c = src.start
            pad = dilations[j] * (kernel - 1) // 2
            # Full correlation with the flipped kernel = gradient of the padded input; then fold the reflection.
            grad_padded = F.conv2d(
                F.pad(grad_z.to(dtype), (2 * pad,) * 4),
                weight.to(dtype).transpose(0, 1).flip(-1, -2),
                dilation=dilations[j],
            )
            grad[:, :c] += _fold_reflection(grad_padded, pad)
        rows, cols = features.shape[-2:]
        for g, layers in enumerate(plan.layers_of):
            d, pad = plan.groups[g], plan.pad(g)
            c = plan.in_channels + layers[-1] * width
            extra = (-rows % d, -cols % d)  # zeros so that the sides divide by d
            padded = F.pad(F.pad(features[:, :c], (pad,) * 4, mode="reflect"), (0, extra[1], 0, extra[0]))
            grad_out = grad_pre[:, plan.offset[g] : plan.offset[g] + len(layers) * width].to(dtype)
            grad_out = F.pad(grad_out, (0, extra[1], 0, extra[0]))
            _, grad_weight, _ = torch.ops.aten.convolution_backward(
                _phases(grad_out, d),
                _phases(padded, d),
                features.new_empty(len(layers) * width, c, kernel, kernel),
                None,
                [1, 1],
                [0, 0],
                [1, 1],
                False,
                [0, 0],
                1,
                [False, True, False],
            )
            for r, j in enumerate(layers):
                weight = params[3 * j]
                grads[3 * j] = grad_weight[r * width : (r + 1) * width, : weight.shape[1]].to(weight.dtype)
        grad_x = grad[:, : ctx.cin].to(ctx.x_dtype) if ctx.needs_input_grad[0] else None
        return (grad_x, None, *grads)


_ONE_THREAD_LOCK = threading.Lock()
_ONE_THREAD_STATE = {"users": 0, "threads": 1}  # passes inside, and PyTorch's thread count outside


@contextlib.contextmanager
def _torch_on_one_thread() -> Iterator[int]:
    """Run PyTorch on one thread inside; yields the thread count set outside (for the compiled loops).

    Between the compiled loops only small element-wise operations run (one map per layer):
    at two or more threads each waits at an OpenMP barrier, ~10 ms on a loaded machine.
    Passes running at the same time in several Python threads share one saved count.
    """
    with _ONE_THREAD_LOCK:
        if _ONE_THREAD_STATE["users"] == 0:
            _ONE_THREAD_STATE["threads"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _ONE_THREAD_STATE["users"] += 1
        threads = _ONE_THREAD_STATE["threads"]
    try:
        yield threads
    finally:
        with _ONE_THREAD_LOCK:
            _ONE_THREAD_STATE["users"] -= 1
            if _ONE_THREAD_STATE["users"] == 0:
                torch.set_num_threads(threads)


def _compiled_loops_apply(x: torch.Tensor) -> bool:
    """Whether the compiled CPU loops (``msdnet_kernels``) run this input: CPU, float32/float64."""
    return x.device.type == "cpu" and _compute_dtype(x) in (torch.float32, torch.float64)


def _forward_cpu(
    x: torch.Tensor, spec: tuple, params: Sequence[torch.Tensor], *, keep_preactivation: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Forward pass with the compiled loops: each layer correlates all earlier maps at once.

    Every map is stored once, reflection-padded by the widest padding ``P`` of any layer:
    the reflection of a pixel does not depend on the padding width, so a layer of dilation
    ``d`` reads the same padded maps from ``P - d·(k-1)/2`` on.

    Returns the feature maps, the padded feature maps and, when asked, the pre-activations
    (layer order).
    """
    dilations, kernel, width = spec
    layers = len(dilations)
    batch, cin, rows, cols = x.shape
    dtype = x.dtype
    widest = max(dilations) * (kernel - 1) // 2
    with torch.no_grad(), _torch_on_one_thread() as threads:
        padded = x.new_empty(batch, cin + layers * width, rows + 2 * widest, cols + 2 * widest)
        padded[:, :cin] = F.pad(x, (widest,) * 4, mode="reflect")
        pre = x.new_empty(batch, layers * width, rows, cols) if keep_preactivation else None
        padded_np = padded.numpy()
        for j, d in enumerate(dilations):
            weight, bias, slope = (p.detach().to(dtype) for p in params[3 * j : 3 * j + 3])
            z = bias.view(1, -1, 1, 1).expand(batch, -1, rows, cols).contiguous()
            kernels.run(
                kernels.correlate,
                batch * width * rows,
                threads,
                padded_np,
                weight.contiguous().numpy(),
                d,
                widest - d * (kernel - 1) // 2,
                z.numpy(),
                0,
                rows,
                cols,
            )
            if pre is not None:
                pre[:, j * width : (j + 1) * width] = z
            c = cin + j * width
            padded[:, c : c + width] = F.pad(F.prelu(z, slope), (widest,) * 4, mode="reflect")
        features = padded[..., widest : widest + rows, widest : widest + cols].contiguous()
    return features, padded, pre


class _MixedScaleDenseCPU(torch.autograd.Function):
    """All MSD layers as one autograd node, computed by the compiled CPU loops.

    Saves the padded feature maps and the pre-activations (linear in depth). Backward walks
    the layers in reverse: once the gradient of layer ``j``'s maps is complete (its direct
    gradient plus the reflection-folded gradient of its padded copy), the PReLU is undone,
    the weight gradient is one correlation of the padded maps with that gradient, and the
    gradient is correlated back (flipped kernel) into the padded gradients of all maps the
    layer read.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, spec: tuple, *params: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        features, padded, pre = _forward_cpu(x, spec, params, keep_preactivation=True)
        ctx.spec = spec
        ctx.cin = x.shape[1]
        ctx.save_for_backward(padded, pre, *params)
        return features

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_features: torch.Tensor):  # type: ignore[override]
        with _torch_on_one_thread() as threads:
            return _backward_cpu(ctx, grad_features, threads)


def _backward_cpu(ctx, grad_features: torch.Tensor, threads: int) -> tuple:
    """Backward pass of :class:`_MixedScaleDenseCPU` (see there); the compiled loops use ``threads``."""
    padded, pre, *params = ctx.saved_tensors
    dilations, kernel, width = ctx.spec
    cin = ctx.cin
    batch, _, rows, cols = grad_features.shape
    dtype = padded.dtype
    widest = max(dilations) * (kernel - 1) // 2
    grad_features = grad_features.to(dtype)
    grad_padded = torch.zeros_like(padded)  # gradient of each padded map, filled by the later layers
    grad_pushed = padded.new_zeros(batch, width, rows + 4 * widest, cols + 4 * widest)
    padded_np, grad_padded_np, grad_pushed_np = padded.numpy(), grad_padded.numpy(), grad_pushed.numpy()
    grads: list[torch.Tensor | None] = [None] * len(params)
    for j in reversed(range(len(dilations))):
        weight, bias, slope = params[3 * j : 3 * j + 3]
        d, pad = dilations[j], dilations[j] * (kernel - 1) // 2
        c = cin + j * width
        go = grad_features[:, c : c + width] + _fold_reflection(grad_padded[:, c : c + width], widest)
        z = pre[:, j * width : (j + 1) * width]
        positive = z > 0
        # PReLU backward (same convention as torch: slope gradient where z <= 0).
        grad_z = torch.where(positive, go, go * slope.to(dtype).view(1, -1, 1, 1)).contiguous()
        grads[3 * j + 2] = torch.where(positive, 0.0, go * z).sum(dim=(0, 2, 3)).reshape(slope.shape).to(slope.dtype)
        grads[3 * j + 1] = grad_z.sum(dim=(0, 2, 3)).to(bias.dtype)
        grad_weight = np.empty((width, c, kernel, kernel), dtype=padded_np.dtype)
        kernels.run(
            kernels.correlate_weight, width * c * kernel, threads, padded_np, grad_z.numpy(), d, widest - pad, grad_weight
        )
        grads[3 * j] = torch.from_numpy(grad_weight).to(weight.dtype)
        if j == 0 and not ctx.needs_input_grad[0]:
            continue
        grad_pushed[..., 2 * widest : 2 * widest + rows, 2 * widest : 2 * widest + cols] = grad_z
        flipped = weight.detach().to(dtype).transpose(0, 1).flip(-1, -2).contiguous()
        kernels.run(
            kernels.correlate,
            batch * c * (rows + 2 * pad),
            threads,
            grad_pushed_np,
            flipped.numpy(),
            d,
            2 * (widest - pad),
            grad_padded_np,
            widest - pad,
            rows + 2 * pad,
            cols + 2 * pad,
        )
    grad_x = None
    if ctx.needs_input_grad[0]:
        grad_x = grad_features[:, :cin] + _fold_reflection(grad_padded[:, :cin], widest)
    return (grad_x, None, *grads)
