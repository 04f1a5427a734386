"""Image formation against abTEM's own chain, resampling, geometry and the detector in the batch."""

from __future__ import annotations

import dataclasses

import abtem
import numpy as np
import pytest
import torch

from temnn.errors import TemnnError
from temnn.simulate.draw import MicroscopeParameters
from temnn.simulate.geometry import ImageGeometry, choose_geometry
from temnn.simulate.images import form_images, resample

WAVE_SAMPLING = 0.05


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(shape[0]) * WAVE_SAMPLING
    y = np.arange(shape[1]) * WAVE_SAMPLING
    return np.meshgrid(x, y, indexing="ij")


def _gaussian(shape: tuple[int, int], centre: tuple[float, float], width: float) -> np.ndarray:
    x, y = _grid(shape)
    return np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * width**2))


def _object_wave(shape: tuple[int, int] = (96, 80)) -> np.ndarray:
    """A thin object: two phase columns and a weak absorber."""
    phase = 0.4 * _gaussian(shape, (2.1, 1.7), 0.2) + 0.25 * _gaussian(shape, (3.5, 2.9), 0.15)
    amplitude = 1 - 0.05 * _gaussian(shape, (1.0, 3.0), 0.3)
    return (amplitude * np.exp(1j * phase)).astype(np.complex64)


LENS = dict(C12=20.0, phi12=0.3, C21=300.0, phi21=1.1, C23=150.0, phi23=2.0, C30=-3e4)


def test_noise_free_images_equal_abtem_chain() -> None:
    # Two samples with their own microscopes in one batch, each a two-image focal series,
    # imaged at the wave's own grid: no resampling, so this is the optics alone.
    wave = _object_wave()
    shape = wave.shape
    micro = [
        MicroscopeParameters(
            WAVE_SAMPLING, (37.0, -80.0), 80e3, focal_spread=10.0, angular_spread=0.5, aperture=30.0, **LENS
        ),
        MicroscopeParameters(WAVE_SAMPLING, (-20.0, 150.0), 80e3, focal_spread=4.0, C30=1e4, C45=2e5, phi45=0.7),
    ]
    geometry = ImageGeometry(WAVE_SAMPLING, (0.0, 0.0), shape)
    waves = torch.from_numpy(np.stack([wave, np.conj(wave)]))
    ours = form_images(waves, WAVE_SAMPLING, micro, [geometry, geometry]).numpy()
    assert ours.shape == (2, 2) + shape and ours.dtype == np.float32
    for b, m in enumerate(micro):
        for c, defocus in enumerate(m.defocus):
            transfer = abtem.CTF(
                semiangle_cutoff=np.inf if m.aperture is None else m.aperture,
                soft=False,
                focal_spread=m.focal_spread,
                angular_spread=m.angular_spread,
                energy=m.energy,
                defocus=defocus,
                **m.aberrations,
            )
            wave_b = abtem.Waves(waves[b].numpy(), sampling=WAVE_SAMPLING, energy=m.energy)
            reference = wave_b.apply_ctf(transfer).intensity().compute().array
            assert reference.std() > 0.01  # the lens makes contrast
            assert np.abs(ours[b, c] - reference).max() < 1e-5


@pytest.mark.parametrize("aperture, focal_spread", [(None, 6.0), (25.0, 0.0), (40.0, 15.0)])
def test_resampled_images_equal_abtem_chain_then_resampling(aperture: float | None, focal_spread: float) -> None:
    # Coarser images: abTEM's intensity on the wave grid, then band-limited resampling, must
    # equal form_images, which forms |ψ|² on a coarser grid where the envelopes allow it.
    # A strong random phase fills the spectrum up to the envelope cut, so a grid too coarse
    # for |ψ|² aliases (an error ~1e-4 with one cell frequency less margin).
    phase = np.random.default_rng(5).normal(0, 1.5, (128, 120))
    wave = (_object_wave((128, 120)) * np.exp(1j * phase)).astype(np.complex64)
    micro = MicroscopeParameters(0.13, (60.0,), 80e3, focal_spread=focal_spread, aperture=aperture, **LENS)
    geometry = choose_geometry(wave.shape, WAVE_SAMPLING, 0.13, (40, 36), rng=np.random.default_rng(2))
    ours = form_images(torch.from_numpy(wave)[None], WAVE_SAMPLING, [micro], [geometry])[0, 0]
    transfer = abtem.CTF(
        semiangle_cutoff=np.inf if aperture is None else aperture,
        soft=False,
        focal_spread=focal_spread,
        energy=80e3,
        defocus=60.0,
        **LENS,
    )
    intensity = abtem.Waves(wave, sampling=WAVE_SAMPLING, energy=80e3).apply_ctf(transfer).intensity().compute().array
    reference = resample(torch.from_numpy(intensity)[None], WAVE_SAMPLING, [geometry])[0]
    assert reference.std() > 0.01
    assert torch.abs(ours - reference).max() < 1e-5


def test_pure_phase_object_without_aberrations_is_flat() -> None:
    phase = 0.8 * _gaussian((64, 64), (1.6, 1.5), 0.3) + 0.5 * _gaussian((64, 64), (0.6, 2.4), 0.2)
    wave = torch.from_numpy(np.exp(1j * phase).astype(np.complex64))[None]
    for geometry in (ImageGeometry(WAVE_SAMPLING, (0.0, 0.0), (64, 64)), ImageGeometry(0.093, (0.21, 0.13), (30, 30))):
        micro = MicroscopeParameters(geometry.sampling, (0.0,), 200e3, blur=0.2)
        image = form_images(wave, WAVE_SAMPLING, [micro], [geometry])
        assert torch.abs(image - 1).max() < 1e-5


def test_crop_after_ctf_equals_crop_of_full_field() -> None:
    # The CTF acts on the whole periodic cell before cropping: a crop holds exactly the
    # pixels of the full image, also next to the cell edge (no wrap-around of the crop).
    wave = torch.from_numpy(_object_wave())[None]
    micro = MicroscopeParameters(WAVE_SAMPLING, (120.0,), 80e3, C30=5e4, focal_spread=5.0)
    full = form_images(wave, WAVE_SAMPLING, [micro], [ImageGeometry(WAVE_SAMPLING, (0.0, 0.0), (96, 80))])
    crop = form_images(wave, WAVE_SAMPLING, [micro], [ImageGeometry(WAVE_SAMPLING, (3 * WAVE_SAMPLING, 0.0), (40, 24))])
    assert torch.allclose(crop[0, 0], full[0, 0, 3:43, :24], atol=1e-5)


def test_resampling_keeps_the_mean_of_a_full_period() -> None:
    rng = np.random.default_rng(0)
    field = torch.from_numpy(rng.random((2, 96, 80)).astype(np.float32))
    # 48 × 40 pixels of 0.1 Å cover the 4.8 × 4.0 Å cell once, at any offset.
    geometries = [ImageGeometry(0.1, (0.013, 0.071), (48, 40)), ImageGeometry(0.1, (0.0, 0.0), (48, 40))]
    out = resample(field, WAVE_SAMPLING, geometries, fill=None)
    assert torch.allclose(out.mean(dim=(-2, -1)), field.mean(dim=(-2, -1)), atol=1e-6)


def test_resampling_a_band_limited_field_is_exact() -> None:
    # A sum of cosines below the image's Nyquist frequency, evaluated analytically at the image pixels.
    shape = (96, 80)
    length = np.array(shape) * WAVE_SAMPLING
    x, y = _grid(shape)

    def field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (
            1
            + 0.3 * np.cos(2 * np.pi * (7 * x / length[0] + 3 * y / length[1]) + 0.4)
            + 0.2 * np.sin(2 * np.pi * (-11 * x / length[0] + 9 * y / length[1]))
        )

    geometry = ImageGeometry(0.107, (0.37, 0.52), (30, 22))
    out = resample(torch.from_numpy(field(x, y))[None], WAVE_SAMPLING, [geometry])[0].numpy()
    gx, gy = geometry.pixel_positions()
    assert np.abs(out - field(gx[:, None], gy[None, :])).max() < 1e-5
    # A complex field (an exit wave) is resampled the same way.
    wave = np.exp(1j * (field(x, y) - 1))
    band = resample(
        torch.from_numpy(wave.astype(np.complex64))[None],
        WAVE_SAMPLING,
        [ImageGeometry(WAVE_SAMPLING, (0.0, 0.0), shape)],
    )
    assert np.abs(band[0].numpy() - wave).max() < 1e-5


def test_column_appears_at_its_pixel_position() -> None:
    # A weak phase column imaged without aberrations at a small defocus: its image is
    # symmetric about the column, so the centroid of (I - 1)² is the column position.
    shape, column = (128, 128), (3.137, 2.861)
    wave = np.exp(1j * 0.05 * _gaussian(shape, column, 0.25)).astype(np.complex64)
    geometry = ImageGeometry(0.11, (0.043, 0.019), (56, 56))
    micro = MicroscopeParameters(0.11, (20.0,), 300e3)
    image = form_images(torch.from_numpy(wave)[None], WAVE_SAMPLING, [micro], [geometry])[0, 0].numpy()
    weight = (image - 1) ** 2
    assert weight.max() > 1e-5
    ix, iy = np.indices(image.shape)
    centroid = np.array([(ix * weight).sum(), (iy * weight).sum()]) / weight.sum()
    assert np.abs(centroid - geometry.positions_to_pixels([column])[0]).max() < 0.1


def test_vacuum_outside_the_cell_and_a_warning() -> None:
    wave = torch.from_numpy(_object_wave((64, 64)))[None]
    with pytest.warns(UserWarning, match="vacuum"):
        geometry = choose_geometry((64, 64), WAVE_SAMPLING, 0.1, (48, 20))
    micro = MicroscopeParameters(0.1, (50.0,), 80e3, C30=1e4)
    image = form_images(wave, WAVE_SAMPLING, [micro], [geometry])[0, 0].numpy()
    x, _ = geometry.pixel_positions()
    outside = (x < 0) | (x >= 64 * WAVE_SAMPLING)
    assert outside.sum() >= 10 and np.all(image[outside] == 1) and image[~outside].std() > 1e-3


def test_shot_noise_uses_the_image_pixel_size() -> None:
    # A vacuum wave at 0.05 Å imaged at 0.1 Å: N_D = D · (0.1 Å)² electrons per image pixel.
    wave = torch.ones(1, 128, 128, dtype=torch.complex64)
    dose, sampling = 900.0, 0.1
    micro = MicroscopeParameters(sampling, (0.0, 30.0), 300e3, C30=1e4, dose=dose)
    geometry = choose_geometry((128, 128), WAVE_SAMPLING, sampling, (60, 60))
    image = form_images(wave, WAVE_SAMPLING, [micro], [geometry], generator=torch.Generator().manual_seed(0))
    electrons = dose * sampling**2
    assert image.var().item() * electrons == pytest.approx(1.0, rel=0.05)
    assert image.mean().item() == pytest.approx(1.0, abs=0.01)


def test_batch_equals_single_samples_and_noise_is_seeded() -> None:
    rng = np.random.default_rng(1)
    waves = torch.from_numpy(np.stack([_object_wave(), _object_wave()[::-1].copy()]))
    micro = [
        MicroscopeParameters(0.1, (10.0, 60.0), 80e3, C30=2e4, blur=0.1, focal_spread=8.0),
        MicroscopeParameters(0.105, (-40.0, 10.0), 80e3, C30=-1e4, blur=0.3, C12=10.0, phi12=1.0),
    ]
    geometries = [choose_geometry((96, 80), WAVE_SAMPLING, m.sampling, (32, 32), rng=rng) for m in micro]
    batch = form_images(waves, WAVE_SAMPLING, micro, geometries)
    for b in range(2):
        single = form_images(waves[b : b + 1], WAVE_SAMPLING, micro[b : b + 1], geometries[b : b + 1])
        assert torch.allclose(batch[b], single[0], atol=2e-6)
    noisy = [dataclasses.replace(micro[0], dose=1e3, mtf=(0.3, 3.0, 0.1), readout=0.01)]
    first = form_images(waves[:1], WAVE_SAMPLING, noisy, geometries[:1], generator=torch.Generator().manual_seed(4))
    again = form_images(waves[:1], WAVE_SAMPLING, noisy, geometries[:1], generator=torch.Generator().manual_seed(4))
    assert torch.equal(first, again)


def test_geometry_conventions() -> None:
    g = ImageGeometry(0.1, (1.0, -0.5), (4, 3))
    x, y = g.pixel_positions()
    xy = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2)
    assert np.allclose(g.positions_to_pixels(xy), np.stack(np.indices((4, 3)), axis=-1).reshape(-1, 2))
    centred = choose_geometry((100, 80), 0.05, 0.1, (40, 30))
    cx, cy = centred.pixel_positions()
    assert (cx[0] + cx[-1]) / 2 == pytest.approx(99 * 0.05 / 2) and (cy[0] + cy[-1]) / 2 == pytest.approx(79 * 0.05 / 2)
    for seed in range(20):
        g = choose_geometry((100, 80), 0.05, 0.1, (40, 30), rng=np.random.default_rng(seed))
        gx, gy = g.pixel_positions()
        assert gx[0] >= 0 and gx[-1] <= 99 * 0.05 + 1e-12 and gy[0] >= 0 and gy[-1] <= 79 * 0.05 + 1e-12


def test_bad_batches_are_explained() -> None:
    wave = torch.ones(1, 16, 16, dtype=torch.complex64)
    g = ImageGeometry(0.1, (0.0, 0.0), (8, 8))
    with pytest.raises(TemnnError, match="sampling"):
        form_images(wave, WAVE_SAMPLING, [MicroscopeParameters(0.11, (0.0,), 3e5)], [g])
    with pytest.raises(TemnnError, match="geometries"):
        form_images(wave, WAVE_SAMPLING, [MicroscopeParameters(0.1, (0.0,), 3e5)], [g, g])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu() -> None:
    wave = torch.from_numpy(_object_wave())[None]
    micro = [MicroscopeParameters(0.1, (10.0, 60.0), 80e3, C30=2e4, blur=0.1, focal_spread=8.0, mtf=(0.3, 3.0, 0.1))]
    geometry = [choose_geometry((96, 80), WAVE_SAMPLING, 0.1, (32, 32))]
    cpu = form_images(wave, WAVE_SAMPLING, micro, geometry)
    gpu = form_images(wave.cuda(), WAVE_SAMPLING, micro, geometry)
    assert gpu.device.type == "cuda" and torch.allclose(gpu.cpu(), cpu, atol=1e-4)
