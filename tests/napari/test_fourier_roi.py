"""'FFT along time axis' and 'ROI properties' on tracked discs with known lattices and areas."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("napari")

from temnn.napari._fourier import FourierWidget  # noqa: E402
from temnn.napari._roi import RoiPropertiesWidget  # noqa: E402

SAMPLING = 0.5  # [Å/pixel]
NM = SAMPLING / 10
PERIOD = 2.5  # lattice period along x inside the discs [Å]: 5 pixels


def tracked_layers(viewer, stack, centres):
    """Images with a cos lattice (period 2.5 Å along x) inside the discs, and their tracked labels."""
    frames, ny, nx = stack.shape
    x = np.arange(nx) * SAMPLING
    lattice = 1.0 + 0.5 * np.cos(2 * np.pi * x / PERIOD)[None, :]
    images = np.where(stack, lattice[None], 1.0).astype(np.float32)
    labels = np.zeros(stack.shape, np.int32)
    rows, cols = np.mgrid[:ny, :nx]
    for t, frame_centres in enumerate(centres):
        for track_id, (r, c) in enumerate(frame_centres, start=1):
            labels[t][(np.hypot(rows - r, cols - c) <= 8.0)] = track_id
    calibration = dict(scale=(1, NM, NM), units=("pixel", "nm", "nm"))
    return (viewer.add_image(images, name="images", **calibration),
            viewer.add_labels(labels, name="tracked", **calibration))


def test_fft_layer_has_one_spectrum_per_frame_with_the_lattice_peak(make_napari_viewer, run_widget,
                                                                    two_disc_sequence, mixed_units):
    # mixed_units: a spectrum in 1/Å beside images in nm cannot share one napari coordinate system, so
    # napari still warns "Inconsistent units" when the FFT layer is added (known, left for a spectrum viewer)
    viewer = make_napari_viewer()
    stack, centres = two_disc_sequence(frames=4)
    images, labels = tracked_layers(viewer, stack, centres)
    widget = FourierWidget(viewer)
    widget.image.value, widget.tracked.value = images, labels
    labels.selected_label = 2
    assert widget.track_id.value == 2  # the id follows the labels layer's selected label
    labels.selected_label = 1
    run_widget(widget)
    fft = viewer.layers["images FFT id 1"]
    frames, n, m = fft.data.shape
    assert frames == 4 and n == m and n >= 2 * 17  # twice the particle (17 px) plus the apodisation margin
    dq = 1.0 / (n * SAMPLING)  # one spectrum pixel [1/Å]
    np.testing.assert_allclose(fft.scale, (1, dq, dq))
    np.testing.assert_allclose(fft.translate[-2:], (-(n // 2) * dq,) * 2)
    assert [str(u) for u in fft.units[-2:]] == ["1 / angstrom"] * 2
    for t in range(frames):
        spectrum = fft.data[t].copy()
        spectrum[n // 2 - 2:n // 2 + 3, n // 2 - 2:n // 2 + 3] = -np.inf  # leave out zero frequency
        row, col = np.unravel_index(np.argmax(spectrum), spectrum.shape)
        # the lattice runs along x: its peak lies on the qx axis at q = 1/period
        assert row == n // 2
        assert abs(abs(col - n // 2) * dq - 1.0 / PERIOD) <= dq


def test_fft_of_an_empty_labels_layer_or_a_missing_id_says_what_to_do(make_napari_viewer, run_widget, notifications,
                                                                        two_disc_sequence):
    viewer = make_napari_viewer()
    stack, centres = two_disc_sequence(frames=2)
    images, labels = tracked_layers(viewer, stack, centres)
    widget = FourierWidget(viewer)
    widget.image.value, widget.tracked.value = images, labels
    widget.track_id.value = 7
    run_widget(widget)
    severity, message = notifications()[-1]
    assert severity == "error" and "particle 7 is in none of the frames" in message
    labels.data = np.zeros_like(labels.data)
    widget.track_id.value = 1
    run_widget(widget)
    severity, message = notifications()[-1]
    assert severity == "error" and "is empty" in message and "Label by 2+1D connectivity" in message
    assert [layer.name for layer in viewer.layers] == ["images", "tracked"]


def test_roi_table_rows_plot_and_csv(make_napari_viewer, run_widget, two_disc_sequence, tmp_path):
    viewer = make_napari_viewer()
    stack, centres = two_disc_sequence(frames=5)
    _, labels = tracked_layers(viewer, stack, centres)
    widget = RoiPropertiesWidget(viewer)
    widget.tracked.value = labels
    assert widget.ids.choices == (1, 2)
    widget.ids.value = [2]
    widget.frame_interval.value = 0.4
    run_widget(widget)
    rows = widget.rows
    assert [r["frame"] for r in rows] == [0, 1, 2, 3, 4] and {r["id"] for r in rows} == {2}
    pixels = [np.count_nonzero(labels.data[t] == 2) for t in range(5)]
    np.testing.assert_allclose([r["area_nm2"] for r in rows], np.array(pixels) * NM**2)
    np.testing.assert_allclose([r["time_s"] for r in rows], 0.4 * np.arange(5))
    # the disc moves down one pixel per frame: 0.05 nm
    np.testing.assert_allclose([r["displacement_nm"] for r in rows[1:]], NM, rtol=1e-6)
    assert widget.table.shape == (5, len(rows[0]))
    (ax,) = widget.figure.axes
    assert [line.get_label() for line in ax.lines] == ["id 2"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [r["area_nm2"] for r in rows])
    path = widget.export(tmp_path / "areas.csv")
    with open(path, newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == 5 and float(written[3]["area_nm2"]) == pytest.approx(rows[3]["area_nm2"])


def test_roi_properties_of_an_empty_labels_layer(make_napari_viewer, run_widget, notifications):
    viewer = make_napari_viewer()
    layer = viewer.add_labels(np.zeros((3, 16, 16), np.int32), scale=(1, NM, NM), units=("pixel", "nm", "nm"))
    widget = RoiPropertiesWidget(viewer)
    widget.tracked.value = layer
    run_widget(widget)
    severity, message = notifications()[-1]
    assert severity == "error" and "is empty" in message
    assert widget.rows == [] and not widget.export_button.enabled
