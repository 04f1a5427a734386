"""Tiled and streamed inference: tiles agree with a whole-image pass, memory is bounded, streams are lazy."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from temnn.nn import tiling
from temnn.nn.tiling import (
    blend_window,
    inference_sampling,
    predict_tiled,
    size_multiple,
    tile_positions,
)
from temnn.errors import TemnnError
from temnn.nn import MSDNet, Task, UNet, predict
from temnn.nn.inference import predict_frames


def network_fn(net: torch.nn.Module):
    def fn(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(batch)).numpy()

    return fn


def with_card(net, *, sampling=None, normalizedistance=2.0, task=None):
    """A network as load_model returns it: eval mode, task and card."""
    net.task = task or Task("Disk", net.out_channels, "softmax")
    net.card = {"normalizedistance": normalizedistance}
    if sampling is not None:
        net.card["sampling"] = list(sampling)
    return net.eval()


@pytest.fixture(scope="module")
def image256():
    return np.random.default_rng(1).normal(size=(256, 256)).astype(np.float32)


def test_docstring_examples():
    result = doctest.testmod(tiling)
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------- blending
@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 700), tile=st.integers(8, 200), overlap_fraction=st.floats(0, 0.5),
       multiple=st.sampled_from([1, 2, 4, 8]))
def test_tiles_cover_the_image_and_weights_never_vanish(size, tile, overlap_fraction, multiple):
    overlap = int(tile * overlap_fraction)
    if size > tile and (tile // multiple * multiple - overlap) // multiple < 1:
        with pytest.raises(TemnnError, match="no step"):
            tile_positions(size, tile, overlap, multiple)
        return
    length, starts, padded = tile_positions(size, tile, overlap, multiple)
    assert starts[0] == 0 and starts[-1] + length == padded >= size
    if size > tile:
        assert padded - size < multiple and all(s % multiple == 0 for s in starts)
        assert all(b - a <= length - overlap for a, b in zip(starts, starts[1:]))  # at least `overlap`
    windows, total = tiling._axis_weights(padded, starts, length)
    assert np.all(total > 0)


def test_tapered_edges_of_neighbours_sum_to_one():
    for length, overlap in [(96, 32), (64, 17), (10, 4)]:
        end = blend_window(length, 0, overlap)[length - overlap:]
        start = blend_window(length, overlap, 0)[:overlap]
        np.testing.assert_allclose(end + start, 1, atol=1e-6)
        assert np.all(end[-(overlap // 4):] == 0)  # the outer quarter of the band is not used
    np.testing.assert_array_equal(blend_window(12, 0, 0), 1)  # image borders are not tapered


@pytest.mark.parametrize("shape", [(256, 256), (300, 170), (50, 40), (97, 500)])
@pytest.mark.parametrize("multiple", [1, 8])
def test_pointwise_function_is_reproduced_exactly(shape, multiple):
    image = np.random.default_rng(0).random(shape, dtype=np.float32)
    out = predict_tiled(lambda b: np.concatenate([2 * b, np.ones_like(b)], axis=1), image,
                        tile=96, overlap=32, batch_size=3, multiple=multiple)
    assert out.shape == (2, *shape)
    np.testing.assert_allclose(out[0], 2 * image, rtol=1e-6)
    np.testing.assert_allclose(out[1], 1, rtol=1e-6)


@pytest.mark.parametrize(
    "net",
    [MSDNet(1, 2, layers=4, kernel=3, max_dilation=2, seed=3),  # receptive field ±6 px
     UNet(1, 2, levels=1, filters=4, kernel=3, block_layers=1)],  # ±7 px, pools 2×2 blocks
    ids=["msdnet", "unet"],
)
def test_tiles_equal_the_whole_image_pass(net, image256):
    """Random-init networks whose receptive field fits in overlap/4 = 8 px: tiles == one pass."""
    torch.manual_seed(0)
    net.eval()
    fn = network_fn(net)
    whole = fn(image256[None, None])[0]
    tiled = predict_tiled(fn, image256, tile=96, overlap=32, batch_size=4, multiple=size_multiple(net))
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@pytest.mark.parametrize("options", [dict(levels=2, block_layers=2), dict(levels=1, block_layers=1, binning=2)],
                         ids=["two-levels", "binned"])
def test_deeper_unet_agrees_in_the_interior(options, image256):
    """U-nets that see further than overlap/4 (two levels; 2×2 bins: ±15 px): the blended seams
    still agree closely."""
    torch.manual_seed(1)
    net = UNet(1, 2, filters=4, kernel=3, **options).eval()
    fn = network_fn(net)
    whole = fn(image256[None, None])[0]
    tiled = predict_tiled(fn, image256, tile=96, overlap=32, batch_size=4, multiple=size_multiple(net))
    np.testing.assert_allclose(tiled, whole, atol=1e-4)


def test_memory_is_bounded_by_tile_and_batch(image256):
    seen = []

    def fn(batch):
        seen.append(batch.shape)
        return batch[:, :1]

    predict_tiled(fn, image256, tile=64, overlap=16, batch_size=3)
    assert max(s[0] for s in seen) == 3
    assert {s[2:] for s in seen} == {(64, 64)}
    assert sum(s[0] for s in seen) == 25  # 5 × 5 tiles


def test_bad_tiling_options():
    image = np.zeros((64, 64), np.float32)
    with pytest.raises(TemnnError, match="overlap: at most half the tile"):
        predict_tiled(lambda b: b, image, tile=32, overlap=20)
    with pytest.raises(TemnnError, match="batch_size"):
        predict_tiled(lambda b: b, image, tile=32, overlap=8, batch_size=0)
    with pytest.raises(TemnnError, match="model_fn must return"):
        predict_tiled(lambda b: b[:, :, :4], image, tile=32, overlap=8)


# ------------------------------------------------------------------- model wrapper
def test_size_multiple():
    assert size_multiple(UNet(1, 1, levels=3, filters=2, block_layers=1)) == 8
    assert size_multiple(UNet(1, 1, levels=3, filters=2, block_layers=1, binning=2)) == 16
    assert size_multiple(MSDNet(1, 1, layers=2, kernel=3)) == 1
    assert size_multiple(MSDNet(1, 1, layers=2, kernel=3, binning=4)) == 4


def test_inference_sampling_follows_the_training_range():
    net = with_card(MSDNet(1, 2, layers=2, kernel=3), sampling=(0.10, 0.12))
    assert inference_sampling(net, 0.11) == 0.11
    with pytest.warns(UserWarning, match=r"outside the model's training range \[0.1, 0.12\].*resampled to 0.1 "):
        assert inference_sampling(net, 0.05, source="a.dm4") == 0.10
    with pytest.warns(UserWarning, match="resampled to 0.12"):
        assert inference_sampling(net, 0.2) == 0.12
    with pytest.raises(TemnnError, match="coarser than the model's training range"):
        inference_sampling(net, 3.8)
    assert inference_sampling(with_card(MSDNet(1, 2, layers=2, kernel=3)), 3.8) == 3.8  # no range in the card


def test_tiled_predict_equals_the_whole_image_pass():
    """Within the training range and one tile: the same as the whole-image pass (standardise + network)."""
    torch.manual_seed(2)
    net = with_card(MSDNet(1, 3, layers=3, kernel=3, max_dilation=2), sampling=(0.1, 0.2))
    image = np.random.default_rng(2).poisson(50, (80, 64)).astype(np.float32)
    expected = predict(net, image[None], sampling=0.15)
    np.testing.assert_allclose(predict(net, image[None], sampling=0.15, tile=128, resample=True), expected, atol=1e-5)
    # tiled: the standardisation is done once on the whole frame, so tiles change nothing
    tiled = predict(net, image[None], sampling=0.15, tile=48, overlap=24, batch_size=2, resample=True)
    np.testing.assert_allclose(tiled, expected, atol=1e-5)


def test_predict_resamples_to_the_training_sampling_and_back():
    torch.manual_seed(3)
    net = with_card(MSDNet(1, 1, layers=2, kernel=3), sampling=(0.1, 0.1), task=Task("Mask", 1, "sigmoid"))
    shapes = []
    inner = net.forward
    net.forward = lambda x: (shapes.append(tuple(x.shape[-2:])), inner(x))[1]
    image = np.random.default_rng(3).random((60, 40), dtype=np.float32)
    with pytest.warns(UserWarning, match="resampled to 0.1"):
        out = predict(net, image[None], sampling=0.2, tile=256, resample=True)
    assert shapes == [(120, 80)]  # the network saw the image at 0.1 Å/pixel
    assert out.shape == (1, 60, 40)  # the prediction is on the image's grid
    assert np.all((out >= 0) & (out <= 1))


def test_channel_mismatch_is_a_clear_error():
    net = with_card(MSDNet(3, 2, layers=2, kernel=3))
    with pytest.raises(TemnnError, match=r"focal series of 3 image\(s\).*data give 1.*--focal-series"):
        predict(net, np.zeros((1, 32, 32), np.float32), sampling=0.1, tile=512, source="stack.emd")


def test_predict_frames_streams_one_frame_at_a_time():
    net = with_card(MSDNet(1, 2, layers=2, kernel=3))
    read = []

    def frames():
        for i in range(4):
            read.append(i)
            yield np.full((24, 24), float(i), np.float32)

    stream = predict_frames(net, frames(), sampling=0.1, tile=16, overlap=4, resample=True)
    assert read == []  # nothing is read before it is asked for
    first = next(stream)
    assert read == [0] and first.shape == (2, 24, 24)
    assert len(list(stream)) == 3 and read == [0, 1, 2, 3]
