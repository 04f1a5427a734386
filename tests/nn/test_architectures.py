"""Architectures: output shapes, parameter counts from the layer formulas, MSD-net seeding and memory path."""

from __future__ import annotations

import pytest
import torch

from temnn import TemnnError
from temnn.nn import ARCHITECTURES, MSDNet, UNet, UNetPlusPlus, build_model, count_parameters, draw_dilations
from temnn.cli.train import ARCH_NAMES


def conv_params(cin: int, cout: int, k: int) -> int:
    """Conv weights + bias + per-channel PReLU slope."""
    return cin * cout * k * k + cout + cout


def block_params(cin: int, c: int, k: int, n: int) -> int:
    return conv_params(cin, c, k) + (n - 1) * conv_params(c, c, k)


def test_msdnet_parameter_count_by_hand():
    # C_in=1, w=1, k=3, L=3, out=2: layers 1·9+2, 2·9+2, 3·9+2; output (1+3)·2+2.
    net = MSDNet(1, 2, layers=3, width=1, kernel=3, max_dilation=2)
    assert count_parameters(net) == 11 + 20 + 29 + 10 == 70


@pytest.mark.parametrize("cin,cout,layers,width,kernel", [(3, 4, 5, 2, 5), (1, 2, 10, 1, 9)])
def test_msdnet_parameter_count_formula(cin, cout, layers, width, kernel):
    net = MSDNet(cin, cout, layers=layers, width=width, kernel=kernel)
    expected = (
        sum(conv_params(cin + l * width, width, kernel) for l in range(layers)) + (cin + layers * width) * cout + cout
    )
    assert count_parameters(net) == expected


def test_unet_parameter_count_by_hand():
    # in 1, out 2, one level, 2 → 4 channels, 3×3 kernels, 3 layers per block:
    # encoder 102 + 384, decoder block (2+4 → 2) 192, output 1×1 conv 2·2+2.
    net = UNet(1, 2, levels=1, filters=2, kernel=3, block_layers=3)
    assert count_parameters(net) == 102 + 384 + 192 + 6 == 684


def test_unet_parameter_count_formula():
    cin, cout, levels, f, k, n = 3, 4, 3, 4, 5, 5
    w = [f * 2**i for i in range(levels + 1)]
    expected = block_params(cin, w[0], k, n) + sum(block_params(w[i - 1], w[i], k, n) for i in range(1, levels + 1))
    expected += sum(block_params(w[i] + w[i + 1], w[i], k, n) for i in range(levels)) + w[0] * cout + cout
    assert count_parameters(UNet(cin, cout, levels=levels, filters=f, kernel=k, block_layers=n)) == expected


def test_unetpp_parameter_count_by_hand():
    # widths 2, 4, 8: X00 102, X10 384, X20 1488, X01 (2+4→2) 192, X11 (4+8→4) 744, X02 (2·2+4→2) 228, out 6.
    net = UNetPlusPlus(1, 2, levels=2, filters=2, kernel=3, block_layers=3)
    assert count_parameters(net) == 102 + 384 + 1488 + 192 + 744 + 228 + 6 == 3144


@pytest.mark.parametrize(
    "arch,options,shape",
    [
        ("unet", dict(levels=2, filters=4, kernel=3, block_layers=3), (20, 22)),
        ("unet", dict(levels=3, filters=2, kernel=5, block_layers=5), (17, 31)),
        ("unetpp", dict(levels=2, filters=4, kernel=3, block_layers=2), (19, 16)),
        ("msdnet", dict(layers=6, width=2, kernel=5, max_dilation=4), (18, 21)),
    ],
)
def test_output_shape(arch, options, shape):
    net = build_model(arch, 3, 4, **options)
    out = net(torch.randn(2, 3, *shape))
    assert out.shape == (2, 4, *shape)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cls, options", [(UNet, dict(levels=2, filters=4, kernel=3, block_layers=2)),
                                          (UNetPlusPlus, dict(levels=2, filters=4, kernel=3, block_layers=2)),
                                          (MSDNet, dict(layers=4, kernel=3, max_dilation=2))])
@pytest.mark.parametrize("shape", [(32, 40), (33, 27)])
def test_binning_is_block_mean_then_bilinear_upsampling(cls, options, shape):
    """binning=2 equals, by hand: 2×2 block means (a partial last block: the mean of its
    pixels), the unbinned network with the same weights, bilinear up-sampling to the input."""
    torch.manual_seed(0)
    binned = cls(2, 3, **options, binning=2)
    plain = cls(2, 3, **options)
    plain.load_state_dict(binned.state_dict())
    x = torch.randn(2, 2, *shape)
    rows, cols = -(-shape[0] // 2), -(-shape[1] // 2)
    means = torch.zeros(2, 2, rows, cols)
    for i in range(rows):
        for j in range(cols):
            means[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean(dim=(-2, -1))
    expected = torch.nn.functional.interpolate(plain(means), size=shape, mode="bilinear", align_corners=False)
    torch.testing.assert_close(binned(x), expected, rtol=1e-5, atol=1e-6)
    assert binned.config["hyperparameters"]["binning"] == 2
    rebuilt = build_model(binned.arch, 2, 3, **binned.config["hyperparameters"])
    rebuilt.load_state_dict(binned.state_dict())
    torch.testing.assert_close(rebuilt(x), binned(x))


def test_registry_matches_command_choices():
    assert tuple(ARCHITECTURES) == ARCH_NAMES


def test_msdnet_seed_reproducible():
    a, b, c = (draw_dilations(50, 10, seed) for seed in (3, 3, 4))
    assert a == b != c
    assert min(a) >= 1 and max(a) <= 10 and len(set(a)) > 5
    torch.manual_seed(0)
    net1 = MSDNet(1, 2, layers=5, kernel=3, seed=7)
    torch.manual_seed(0)
    net2 = MSDNet(1, 2, layers=5, kernel=3, seed=7)
    assert net1.hyperparameters["dilations"] == net2.hyperparameters["dilations"] == draw_dilations(5, 10, 7)
    for p, q in zip(net1.parameters(), net2.parameters()):
        assert torch.equal(p, q)
    assert [layer.conv.dilation[0] for layer in net1.layers] == net1.hyperparameters["dilations"]


def test_msdnet_buffer_path_equals_concatenation():
    """Custom backward over the shared buffer gives the gradients of the plain torch.cat network."""
    torch.manual_seed(1)
    net = MSDNet(2, 3, layers=6, width=2, kernel=3, max_dilation=3, seed=1).double()
    x = torch.randn(2, 2, 12, 13, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 3, 12, 13, dtype=torch.float64)
    results = []
    for efficient in (True, False):
        net.memory_efficient = efficient
        net.zero_grad()
        x.grad = None
        out = net(x)
        (out - target).square().sum().backward()
        results.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in net.parameters()]))
    (out1, gx1, g1), (out2, gx2, g2) = results
    torch.testing.assert_close(out1, out2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gx1, gx2, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_msdnet_mixed_precision_close_to_float32():
    torch.manual_seed(2)
    net = MSDNet(1, 2, layers=6, kernel=3, max_dilation=3)
    x = torch.randn(2, 1, 16, 16)
    net(x).square().mean().backward()
    reference = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.bfloat16
    out.float().square().mean().backward()
    for p, g in zip(net.parameters(), reference):
        assert p.grad.dtype == torch.float32
        assert (p.grad - g).norm() <= 0.1 * g.norm() + 1e-6


def test_bad_settings_raise_clear_errors():
    with pytest.raises(TemnnError, match="--kernel must be an odd"):
        UNet(1, 1, kernel=4)
    with pytest.raises(TemnnError, match="--arch must be one of"):
        build_model("resnet", 1, 1)
    with pytest.raises(TemnnError, match="expects images of shape \\(batch, 3"):
        MSDNet(3, 1, layers=2, kernel=3)(torch.zeros(1, 1, 16, 16))
    with pytest.raises(TemnnError, match="larger than 40 pixels"):
        MSDNet(1, 1, layers=3, dilations=[10, 1, 1])(torch.zeros(1, 1, 32, 32))
    with pytest.raises(TemnnError, match="at least 16×16"):
        UNet(1, 1, levels=4, filters=2, block_layers=1)(torch.zeros(1, 1, 8, 8))
    with pytest.raises(TemnnError, match="dilations"):
        MSDNet(1, 1, layers=2, dilations=[1, 11])
