"""``temnn track`` and ``temnn fft-track`` end to end on synthetic sequences with known truth."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from temnn.io.files import read_json
from temnn.io.stacks import open_stack
from temnn.workflows import track as track_workflow
from temnn.cli import main

REAL_EM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-em"

SAMPLING = 0.5  # [Å/pixel]
NM2_PER_PIXEL = (SAMPLING / 10) ** 2
X, Y = np.mgrid[:120, :80]


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    return np.hypot(X - cx, Y - cy) < r


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_label_tiff(path: Path) -> tuple[np.ndarray, tifffile.TiffFile]:
    """Frames (T, x, y) of a label TIFF, read with tifffile alone (pages are (y, x))."""
    with tifffile.TiffFile(path) as tif:
        pages = tif.asarray()
        return np.swapaxes(pages.reshape(-1, *pages.shape[-2:]), 1, 2), tif


def moving_discs(frames: int = 5) -> tuple[np.ndarray, list[list[np.ndarray]]]:
    """Disc A (r 10 px) moving +3 px/frame along x; B and C (r 12 px, 21 px apart) touching, at rest."""
    truth = [[disc(20 + 3 * t, 20, 10), disc(60, 50, 12), disc(81, 50, 12)] for t in range(frames)]
    stack = np.stack([a | b | c for a, b, c in truth]).astype(np.float32)
    return stack, truth


def test_track_moving_discs_labels_csv_and_plots(tmp_path, capsys):
    stack, truth = moving_discs()
    np.save(tmp_path / "mask.npy", stack)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "track", tmp_path / "mask.npy", "--min-separation", 0.5, "--sampling", SAMPLING,
                            "--frame-interval", 0.4, "--out", out, "--quiet")
    assert code == 0, err
    assert {p.name for p in out.iterdir()} == {"labels.tif", "properties.csv", "area.png", "frames.png", "track.json"}

    labels, tif = read_label_tiff(out / "labels.tif")
    assert labels.shape == stack.shape and labels.dtype == np.uint16
    assert tif.imagej_metadata["unit"] == "nm" and tif.imagej_metadata["finterval"] == pytest.approx(0.4)
    x_resolution = tif.pages[0].tags["XResolution"].value
    assert x_resolution[0] / x_resolution[1] == pytest.approx(10 / SAMPLING)  # pixels per nm
    # One id per disc, the same in every frame; the touching pair is split along its neck.
    ids = [int(np.bincount(labels[0][d]).argmax()) for d in truth[0]]
    assert sorted(ids) == [1, 2, 3]
    for t, discs in enumerate(truth):
        assert set(np.unique(labels[t])) == {0, 1, 2, 3}
        for track_id, d in zip(ids, discs):
            assert np.mean(labels[t][d] == track_id) > 0.95

    rows = read_csv(out / "properties.csv")
    assert list(rows[0]) == ["frame", "time_s", "id", "area_nm2", "com_x_nm", "com_y_nm", "equivalent_diameter_nm",
                             "perimeter_nm", "eccentricity", "displacement_nm"]
    assert len(rows) == 5 * 3
    mover = [r for r in rows if int(r["id"]) == ids[0]]
    for t, r in enumerate(mover):
        area = np.count_nonzero(truth[t][0]) * NM2_PER_PIXEL
        assert int(r["frame"]) == t and float(r["time_s"]) == pytest.approx(0.4 * t)
        assert float(r["area_nm2"]) == pytest.approx(area)  # isolated disc: exactly its pixels
        assert float(r["com_x_nm"]) == pytest.approx((20 + 3 * t) * SAMPLING / 10, abs=1e-9)
        assert float(r["com_y_nm"]) == pytest.approx(20 * SAMPLING / 10, abs=1e-9)
        assert float(r["equivalent_diameter_nm"]) == pytest.approx(2 * np.sqrt(area / np.pi))
        if t:
            assert float(r["displacement_nm"]) == pytest.approx(3 * SAMPLING / 10)
    for track_id, d in zip(ids[1:], truth[0][1:]):  # the split pair: each about its own disc's area
        for r in (r for r in rows if int(r["id"]) == track_id):
            assert float(r["area_nm2"]) == pytest.approx(np.count_nonzero(d) * NM2_PER_PIXEL, rel=0.05)
            displacement = float(r["displacement_nm"])  # NaN in the first frame, then at rest
            assert np.isnan(displacement) or displacement < 1e-9


def test_touching_particles_with_a_smooth_neck_split_in_two(tmp_path, capsys):
    """Two particles touching through a smooth neck (as real ones do) give two ids, not a third on the neck."""
    frames, lobes = [], []
    for angle in np.radians([0, 20, 45]):
        u = (X - 60) * np.cos(angle) + (Y - 40) * np.sin(angle)
        v = -(X - 60) * np.sin(angle) + (Y - 40) * np.cos(angle)
        pair = (np.hypot(u + 12, v) < 11) | (np.hypot(u - 12, v) < 11.5)
        frames.append(ndi.gaussian_filter(pair.astype(float), 4) > 0.5)
        lobes.append([(round(60 + s * 12 * np.cos(angle)), round(40 + s * 12 * np.sin(angle))) for s in (-1, 1)])
    np.save(tmp_path / "pair.npy", np.array(frames))
    code, _, err = run(capsys, "track", tmp_path / "pair.npy", "--min-separation", 0.3, "--sampling", SAMPLING,
                       "--quiet")
    assert code == 0, err
    labels, _ = read_label_tiff(tmp_path / "pair_track" / "labels.tif")
    for frame, centres in zip(labels, lobes):
        assert set(np.unique(frame)) == {0, 1, 2}
        assert sorted(int(frame[c]) for c in centres) == [1, 2]


def test_track_rerun_skips_and_changed_options_redo(tmp_path, capsys):
    stack, _ = moving_discs(3)
    np.save(tmp_path / "mask.npy", stack)
    args = ["track", tmp_path / "mask.npy", "--min-separation", 0.5, "--sampling", SAMPLING, "--quiet"]
    assert run(capsys, *args)[0] == 0
    out = tmp_path / "mask_track"  # default: beside the input
    before = (out / "labels.tif").stat().st_mtime_ns
    code, stdout, _ = run(capsys, *args)
    assert code == 0 and "up to date" in stdout
    assert (out / "labels.tif").stat().st_mtime_ns == before
    code, stdout, _ = run(capsys, *args, "--ids", 2)
    assert code == 0 and "up to date" not in stdout
    assert read_json(out / "track.json")["plotted_ids"] == [2]


def test_track_reads_calibrated_tiff_channel_and_writes_npz(tmp_path, capsys):
    """A (T, C, y, x) ImageJ probability TIFF in nm, as a softmax prediction: --channel picks the particles."""
    stack, truth = moving_discs(3)
    probability = np.stack([1 - stack, stack], axis=1).swapaxes(2, 3)  # (T, C, y, x)
    sampling_nm = 0.07
    tifffile.imwrite(tmp_path / "prediction.tif", probability.astype(np.float32), imagej=True,
                     resolution=(1 / sampling_nm, 1 / sampling_nm), metadata={"axes": "TCYX", "unit": "nm"})
    code, _, err = run(capsys, "track", tmp_path / "prediction.tif", "--min-separation", 0.5, "--out", tmp_path / "o",
                       "--format", "npz", "--quiet")
    assert code == 2 and "--channel" in err
    code, _, err = run(capsys, "track", tmp_path / "prediction.tif", "--min-separation", 0.5, "--out", tmp_path / "o",
                       "--format", "npz", "--channel", 1, "--quiet")
    assert code == 0, err
    with np.load(tmp_path / "o" / "labels.npz") as npz:
        labels, sampling = npz["labels"], float(npz["sampling"])
    assert sampling == pytest.approx(10 * sampling_nm)
    assert labels.shape == stack.shape and set(np.unique(labels)) == {0, 1, 2, 3}
    first = read_csv(tmp_path / "o" / "properties.csv")[0]
    assert float(first["area_nm2"]) == pytest.approx(np.count_nonzero(truth[0][0]) * sampling_nm**2)


def test_track_reads_a_folder_of_predictions(tmp_path, capsys):
    """One file per frame, as temnn predict writes them: NNNNN.tif, (K, y, x) calibrated in nm by RosettaSciIO."""
    from rsciio.tiff import file_writer

    stack, truth = moving_discs(3)
    folder = tmp_path / "predictions" / "sequence"
    folder.mkdir(parents=True)
    nm = 0.04  # [nm/pixel]
    for t, mask in enumerate(stack):
        prediction = np.stack([mask, 1 - mask])  # (K, x, y): particles, background
        axes = [{"name": "channel", "size": 2, "scale": 1.0, "offset": 0.0, "units": None, "navigate": True},
                {"name": "y", "size": mask.shape[1], "scale": nm, "offset": 0.0, "units": "nm", "navigate": False},
                {"name": "x", "size": mask.shape[0], "scale": nm, "offset": 0.0, "units": "nm", "navigate": False}]
        file_writer(str(folder / f"{t:05d}.tif"), {"data": np.ascontiguousarray(prediction.transpose(0, 2, 1)),
                                                   "axes": axes, "metadata": {}})
    code, _, err = run(capsys, "track", folder, "--min-separation", 0.5, "--channel", 0, "--quiet")
    assert code == 0, err
    rows = read_csv(tmp_path / "predictions" / "sequence_track" / "properties.csv")
    assert {int(r["frame"]) for r in rows} == {0, 1, 2} and {int(r["id"]) for r in rows} == {1, 2, 3}
    mover = next(r for r in rows if int(r["frame"]) == 2 and float(r["com_y_nm"]) < 1.0)
    assert float(mover["area_nm2"]) == pytest.approx(np.count_nonzero(truth[2][0]) * nm**2)
    assert float(mover["com_x_nm"]) == pytest.approx(26 * nm)


def test_track_empty_frame_and_single_frame(tmp_path, capsys):
    a = disc(40, 40, 10)
    np.save(tmp_path / "gap.npy", np.stack([a, np.zeros_like(a), a]))
    code, _, err = run(capsys, "track", tmp_path / "gap.npy", "--min-separation", 0.5, "--sampling", SAMPLING,
                       "--quiet")
    assert code == 0, err
    rows = read_csv(tmp_path / "gap_track" / "properties.csv")
    # No particle in frame 1; ids are never reused, so the returning particle is a new one.
    assert [(int(r["frame"]), int(r["id"])) for r in rows] == [(0, 1), (2, 2)]

    np.save(tmp_path / "one.npy", a[None].astype(np.uint8))
    code, _, err = run(capsys, "track", tmp_path / "one.npy", "--min-separation", 0.5, "--sampling", SAMPLING,
                       "--quiet")
    assert code == 0, err
    labels, _ = read_label_tiff(tmp_path / "one_track" / "labels.tif")
    assert labels.shape == (1, *a.shape) and np.array_equal(labels[0] > 0, a)
    assert (tmp_path / "one_track" / "frames.png").stat().st_size > 0


def test_track_more_ids_than_uint16_writes_uint32_with_calibration(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(track_workflow, "_UINT16_MAX_ID", 2)  # stands in for 65535 ids
    stack, truth = moving_discs(2)
    np.save(tmp_path / "mask.npy", stack)
    code, _, err = run(capsys, "track", tmp_path / "mask.npy", "--min-separation", 0.5, "--sampling", SAMPLING,
                       "--quiet")
    assert code == 0, err
    labels, _ = read_label_tiff(tmp_path / "mask_track" / "labels.tif")
    assert labels.dtype == np.uint32 and set(np.unique(labels)) == {0, 1, 2, 3}
    reread = open_stack(tmp_path / "mask_track" / "labels.tif", "LABELS")
    assert reread.sampling == pytest.approx(SAMPLING, rel=1e-6)
    first = read_csv(tmp_path / "mask_track" / "properties.csv")[0]
    assert float(first["area_nm2"]) == pytest.approx(np.count_nonzero(truth[0][0]) * NM2_PER_PIXEL)


def rotating_lattice(frames: int, *, start_deg: float = 20.0, period: float = 5.0):
    """A lattice of fringes (period in pixels) inside a moving disc, rotating 1° per frame, plus noise."""
    rng = np.random.default_rng(0)
    images, masks = [], []
    for t in range(frames):
        theta = np.radians(start_deg + t)
        cx, cy = 50 + 2 * t, 40
        fringes = np.cos(2 * np.pi / period * ((X - cx) * np.cos(theta) + (Y - cy) * np.sin(theta)))
        inside = disc(cx, cy, 22)
        images.append(np.where(inside, fringes, 0) + 0.1 * rng.normal(size=X.shape))
        masks.append(inside)
    return np.array(images, np.float32), np.array(masks)


def test_fft_track_follows_a_rotating_lattice(tmp_path, capsys):
    images, masks = rotating_lattice(6)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "mask.npy", masks)
    assert run(capsys, "track", tmp_path / "mask.npy", "--min-separation", 0.5, "--sampling", SAMPLING,
               "--frame-interval", 0.4, "--quiet")[0] == 0
    labels = tmp_path / "mask_track" / "labels.tif"
    # No --sampling: the pixel size and frame interval come from the labels TIFF of temnn track.
    code, _, err = run(capsys, "fft-track", tmp_path / "images.npy", labels, "--id", 1, "--n-peaks", 1, "--quiet")
    assert code == 0, err
    out = tmp_path / "mask_track"
    rows = read_csv(out / "fourier_peaks_id1.csv")
    assert list(rows[0])[:3] == ["id", "frame", "time_s"]
    angles = np.array([float(r["angle_deg"]) for r in rows])
    # atan2(qy, qx) of the fringes' wave vector, one of the (q, −q) pair: 20° (+180° for the other).
    assert (angles[0] - 20.0 + 90) % 180 - 90 == pytest.approx(0.0, abs=0.1)
    assert np.diff(angles) == pytest.approx(np.ones(5), abs=0.05)
    spacing = np.array([float(r["spacing_angstrom"]) for r in rows])
    assert spacing == pytest.approx(np.full(6, 5 * SAMPLING), rel=0.01)
    assert np.all(np.array([float(r["intensity"]) for r in rows]) > 0)

    with tifffile.TiffFile(out / "spectra_id1.tif") as tif:
        spectra = tif.asarray()
        assert tif.imagej_metadata["unit"] == "1/nm"
    size = spectra.shape[-1]
    assert spectra.shape == (6, size, size) and spectra.dtype == np.float32
    # The strongest pixel of each spectrum lies at the lattice frequency 1/period [1/pixel].
    peak = np.unravel_index(np.argmax(spectra[0]), spectra[0].shape)
    assert np.hypot(peak[0] - size // 2, peak[1] - size // 2) == pytest.approx(size / 5, abs=1.5)
    assert (out / "fourier_peaks_id1.png").is_file() and (out / "spectra_id1.png").is_file()


def test_fft_track_frames_without_the_particle_and_given_peaks(tmp_path, capsys):
    images, masks = rotating_lattice(3)
    labels = masks.astype(np.int32) * 7
    labels[1] = 0  # the particle is absent from frame 1
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    q = 1 / (5 * SAMPLING)  # the lattice peak [1/Å]
    theta = np.radians(20)
    code, _, err = run(capsys, "fft-track", tmp_path / "images.npy", tmp_path / "labels.npy", "--id", 7,
                       "--sampling", SAMPLING, "--peaks", q * np.cos(theta), q * np.sin(theta), "--format", "npz",
                       "--out", tmp_path / "fft", "--quiet")
    assert code == 0, err
    rows = read_csv(tmp_path / "fft" / "fourier_peaks_id7.csv")
    assert [r["angle_deg"] for r in rows][1] == "nan"
    assert float(rows[0]["angle_deg"]) == pytest.approx(20.0, abs=0.1)
    assert float(rows[2]["angle_deg"]) == pytest.approx(22.0, abs=0.1)
    with np.load(tmp_path / "fft" / "spectra_id7.npz") as npz:
        assert np.isnan(npz["spectra"][1]).all() and np.isfinite(npz["spectra"][[0, 2]]).all()
        assert float(npz["dq_inv_angstrom"]) == pytest.approx(1 / (npz["spectra"].shape[-1] * SAMPLING))


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no sampling", "--sampling"),
        ("id not present", "ids present: 7"),
        ("lengths differ", "3 frames"),
        ("odd peaks", "pairs QX QY"),
        ("ids not tracked", "--ids: 9"),
        ("missing file", "file not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case, expected):
    images, masks = rotating_lattice(3)
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "labels.npy", masks.astype(np.int32) * 7)
    np.save(tmp_path / "short.npy", masks[:2].astype(np.int32) * 7)
    fft = ["fft-track", tmp_path / "images.npy"]
    argv = {
        "no sampling": ["track", tmp_path / "labels.npy", "--min-separation", 0.5],
        "id not present": [*fft, tmp_path / "labels.npy", "--id", 3, "--sampling", SAMPLING],
        "lengths differ": [*fft, tmp_path / "short.npy", "--id", 7, "--sampling", SAMPLING],
        "odd peaks": [*fft, tmp_path / "labels.npy", "--id", 7, "--sampling", SAMPLING, "--peaks", 0.1, 0.2, 0.3],
        "ids not tracked": ["track", tmp_path / "labels.npy", "--min-separation", 0.5, "--sampling", SAMPLING,
                            "--ids", 9],
        "missing file": ["track", tmp_path / "nothing.npy", "--min-separation", 0.5, "--sampling", SAMPLING],
    }[case]
    code, _, err = run(capsys, *argv, "--quiet")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("temnn ") and expected in lines[0]


@pytest.mark.realdata
def test_fft_track_reads_a_tia_sequence_with_its_calibration(tmp_path, capsys):
    """IMAGES from a real TIA file: its pixel size (nm in the file) comes through temnn's reader."""
    from rsciio.tia import file_reader

    real_em = REAL_EM
    if not (real_em / "03_Scanning_Preview.emi").is_file():
        pytest.skip(f"real EM files not found in {real_em}")

    raw = file_reader(str(real_em / "03_Scanning_Preview.emi"))[0]
    scale_nm = float(raw["axes"][-1]["scale"])
    frames = np.swapaxes(np.asarray(raw["data"], dtype=np.float64), 1, 2)  # (T, y, x) → (T, x, y)
    labels = np.zeros(frames.shape, np.int32)
    labels[:, 40:80, 40:80] = 1
    np.save(tmp_path / "labels.npy", labels)
    code, _, err = run(capsys, "fft-track", real_em / "03_Scanning_Preview.emi", tmp_path / "labels.npy", "--id", 1,
                       "--out", tmp_path, "--quiet")
    assert code == 0, err
    rows = read_csv(tmp_path / "fourier_peaks_id1.csv")
    assert len({r["frame"] for r in rows}) == len(frames) == 5
    with tifffile.TiffFile(tmp_path / "spectra_id1.tif") as tif:
        size = tif.series[0].shape[-1]
        per_inverse_nm = tif.pages[0].tags["XResolution"].value
    dq_nm = 1 / (size * scale_nm)  # [1/nm]
    assert per_inverse_nm[1] / per_inverse_nm[0] == pytest.approx(dq_nm, rel=1e-6)
