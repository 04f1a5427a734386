"""'Label by 2+1D connectivity': tracked ids of a synthetic two-disc sequence, bad input, cancelling."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from temnn.napari._track import TrackWidget  # noqa: E402

SAMPLING = 0.5  # [Å/pixel]
NM = SAMPLING / 10


def test_two_discs_keep_their_ids(make_napari_viewer, run_widget, two_disc_sequence):
    viewer = make_napari_viewer()
    stack, centres = two_disc_sequence()
    layer = viewer.add_image(stack.astype(np.float32), scale=(1, NM, NM), units=("pixel", "nm", "nm"),
                             name="probability")
    widget = TrackWidget(viewer)
    widget.segmentation.value = layer
    widget.min_separation.value = 0.4  # nm: 8 px; smallest area kept 0.16 nm² = 64 px
    run_widget(widget)
    tracked = viewer.layers["probability tracked"]
    assert tracked.data.shape == stack.shape
    np.testing.assert_allclose(tracked.scale, (1, NM, NM))
    assert [str(u) for u in tracked.units[-2:]] == ["nanometer", "nanometer"]
    first = [tracked.data[0][int(r), int(c)] for r, c in centres[0]]
    assert sorted(first) == [1, 2]
    for t, frame_centres in enumerate(centres):
        assert set(np.unique(tracked.data[t])) == {0, 1, 2}
        assert [tracked.data[t][int(r), int(c)] for r, c in frame_centres] == first
        # every disc pixel, and only those, carries an id
        np.testing.assert_array_equal(tracked.data[t] > 0, stack[t])


def test_probability_layer_with_a_class_axis_and_a_given_sampling(make_napari_viewer, run_widget, notifications,
                                                                   two_disc_sequence):
    viewer = make_napari_viewer()
    stack, _ = two_disc_sequence(frames=3)
    probability = np.stack([stack, ~stack]).astype(np.float32)  # (class, frame, y, x), background last
    layer = viewer.add_image(probability, axis_labels=("class", "frame", "y", "x"), name="uncalibrated")
    widget = TrackWidget(viewer)
    widget.segmentation.value = layer
    widget.min_separation.value = 0.4
    run_widget(widget)  # no sampling: refused
    assert "uncalibrated tracked" not in viewer.layers
    severity, message = notifications()[-1]
    assert severity == "error" and "no pixel size" in message and "sampling" in message
    widget.sampling.value = SAMPLING
    run_widget(widget)
    tracked = viewer.layers["uncalibrated tracked"]
    assert tracked.data.shape == stack.shape and tracked.data.max() == 2
    np.testing.assert_allclose(layer.scale[-2:], (NM, NM))  # the input layer is now calibrated too


def test_nothing_found_warns(make_napari_viewer, run_widget, notifications, two_disc_sequence):
    viewer = make_napari_viewer()
    stack, _ = two_disc_sequence(frames=2)
    layer = viewer.add_labels(stack.astype(np.uint8), scale=(1, NM, NM), units=("pixel", "nm", "nm"))
    widget = TrackWidget(viewer)
    widget.segmentation.value = layer
    widget.min_separation.value = 5.0  # nm: smallest area 25 nm², larger than the discs
    run_widget(widget)
    assert viewer.layers[-1].data.max() == 0
    severity, message = notifications()[-1]
    assert severity == "warning" and "no particle" in message


def test_cancel_stops_between_frames(make_napari_viewer, qtbot, two_disc_sequence):
    viewer = make_napari_viewer()
    stack = np.repeat(two_disc_sequence(frames=1)[0], 400, axis=0)
    layer = viewer.add_labels(stack.astype(np.uint8), scale=(1, NM, NM), units=("pixel", "nm", "nm"))
    widget = TrackWidget(viewer)
    widget.segmentation.value = layer
    widget.min_separation.value = 0.4
    widget.run_button.native.click()
    assert widget.busy
    widget.cancel_button.native.click()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30000)
    assert widget.status.value == "cancelled"
    assert len(viewer.layers) == 1  # no half-finished layer
