"""Fast MSD-net against a plain ``torch.cat`` network written here, with the same weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from temnn.nn import MSDNet


def concatenation_reference(net: MSDNet, x: torch.Tensor) -> torch.Tensor:
    """Pelt & Sethian's definition, layer by layer: every layer convolves the whole stack so far."""
    kernel = net.hyperparameters["kernel"]
    stack = x
    for layer, d in zip(net.layers, net.hyperparameters["dilations"]):
        pad = d * (kernel - 1) // 2
        z = F.conv2d(F.pad(stack, (pad,) * 4, mode="reflect"), layer.conv.weight, layer.conv.bias, dilation=d)
        stack = torch.cat([stack, F.prelu(z, layer.act.weight)], dim=1)
    return F.conv2d(stack, net.head.weight, net.head.bias)


@pytest.mark.parametrize(
    "cin,cout,layers,width,kernel,dilations,shape",
    [
        (1, 2, 12, 1, 9, [1, 3, 2, 1, 3, 3, 2, 1, 1, 2, 3, 1], (29, 31)),  # repeated dilations, 9×9
        (3, 4, 7, 2, 3, [4, 1, 4, 2, 7, 1, 2], (20, 17)),  # several maps per layer, non-square
        (2, 1, 5, 1, 5, [2, 2, 2, 2, 2], (12, 12)),  # one dilation: one push per map
        (1, 3, 6, 3, 3, [5, 3, 1, 6, 2, 4], (18, 26)),  # sides not divisible by the dilations
    ],
)
@pytest.mark.parametrize("compiled_loops", [True, False], ids=["compiled-loops", "torch-push"])
def test_outputs_and_gradients_equal_concatenation(cin, cout, layers, width, kernel, dilations, shape, compiled_loops):
    torch.manual_seed(layers)
    net = MSDNet(
        cin,
        cout,
        layers=layers,
        width=width,
        kernel=kernel,
        max_dilation=max(dilations),
        dilations=dilations,
        compiled_loops=compiled_loops,
    )
    for layer in net.layers:  # distinct PReLU slopes so that the slope gradients differ from layer to layer
        layer.act.weight.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, cin, *shape)
    target = torch.randn(2, cout, *shape)
    results = []
    for forward in (net, lambda t: concatenation_reference(net, t)):
        net.zero_grad()
        xi = x.clone().requires_grad_(True)
        out = forward(xi)
        F.mse_loss(out, target).backward()
        results.append((out.detach(), xi.grad, [p.grad.clone() for p in net.parameters()]))
    (out, gx, grads), (out_ref, gx_ref, grads_ref) = results
    torch.testing.assert_close(out, out_ref, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-4, atol=1e-6)
    names = [name for name, _ in net.named_parameters()]
    for name, g, g_ref in zip(names, grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
    with torch.no_grad():  # the inference path (no saved pre-activations) gives the same outputs
        torch.testing.assert_close(net(x), out_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("compiled_loops", [True, False], ids=["compiled-loops", "torch-push"])
def test_float64_equals_concatenation_to_rounding(compiled_loops):
    """In double precision the fast paths agree with the reference to ~1e-12: same arithmetic, other order."""
    torch.manual_seed(5)
    dilations = [3, 1, 2, 3, 1, 2, 2, 1]
    net = MSDNet(2, 2, layers=8, width=1, kernel=5, max_dilation=3, dilations=dilations, compiled_loops=compiled_loops)
    net = net.double()
    for layer in net.layers:
        layer.act.weight.data.uniform_(-0.5, 0.5)
    x = torch.randn(2, 2, 19, 22, dtype=torch.float64)
    target = torch.randn(2, 2, 19, 22, dtype=torch.float64)
    results = []
    for forward in (net, lambda t: concatenation_reference(net, t)):
        net.zero_grad()
        xi = x.clone().requires_grad_(True)
        out = forward(xi)
        F.mse_loss(out, target).backward()
        results.append((out.detach(), xi.grad, [p.grad.clone() for p in net.parameters()]))
    (out, gx, grads), (out_ref, gx_ref, grads_ref) = results
    assert out.dtype == torch.float64 and gx.dtype == torch.float64
    torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gx, gx_ref, rtol=1e-10, atol=1e-12)
    for g, g_ref in zip(grads, grads_ref):
        assert g.dtype == torch.float64
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


def test_gradients_without_input_gradient():
    """Parameters only (the training case): the input's gradient is skipped, the rest unchanged."""
    torch.manual_seed(3)
    net = MSDNet(1, 2, layers=6, kernel=3, max_dilation=3)
    x = torch.randn(1, 1, 16, 16)
    net(x).square().sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    concatenation_reference(net, x).square().sum().backward()
    for g, g_ref in zip(grads, (p.grad for p in net.parameters())):
        torch.testing.assert_close(g, g_ref, rtol=1e-4, atol=1e-6)


def test_state_dict_keys_unchanged():
    """Checkpoints written before the fast implementation hold exactly these keys and still load."""
    net = MSDNet(2, 3, layers=4, width=2, kernel=3, max_dilation=2)
    expected = {f"layers.{i}.{p}" for i in range(4) for p in ("conv.weight", "conv.bias", "act.weight")}
    expected |= {"head.weight", "head.bias"}
    assert set(net.state_dict()) == expected
    shapes = {f"layers.{i}.conv.weight": (2, 2 + 2 * i, 3, 3) for i in range(4)}
    for key, shape in shapes.items():
        assert tuple(net.state_dict()[key].shape) == shape


def test_compiled_loops_split_between_threads_identically():
    """The compiled loops split rows and kernels between threads: the same numbers on 1 or 3
    threads (up to the summation order of PyTorch's own reductions), and PyTorch's thread count
    is restored afterwards."""
    torch.manual_seed(7)
    net = MSDNet(1, 2, layers=5, kernel=3, max_dilation=4, dilations=[4, 1, 3, 2, 4]).double()
    x = torch.randn(2, 1, 21, 18, dtype=torch.float64, requires_grad=True)
    before = torch.get_num_threads()
    results = []
    for threads in (1, 3):
        torch.set_num_threads(threads)
        try:
            net.zero_grad()
            x.grad = None
            out = net(x)
            out.square().sum().backward()
            assert torch.get_num_threads() == threads
        finally:
            torch.set_num_threads(before)
        results.append([out.detach(), x.grad.clone(), *(p.grad.clone() for p in net.parameters())])
    for one, three in zip(*results):
        torch.testing.assert_close(one, three, rtol=1e-12, atol=1e-12)
