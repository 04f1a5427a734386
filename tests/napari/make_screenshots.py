"""Screenshots of the napari plugin for the README: ``xvfb-run -a python tests/napari/make_screenshots.py [OUT]``.

Opens a real (shown) napari window, loads the simulated sample data, runs every widget
through its Run button as a user would, and saves one PNG per widget under
``docs/images/napari_*.png`` (or OUT), each below 300 kB. "Simulate and train" trains a
small Mask model on CeO2-supported Au particles first (minutes on a CPU); "Apply model"
then segments the sample sequence with it, and the tracking runs on the sample's mask. Not a test: pytest does not
collect this file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LIMIT = 300_000  # [bytes] per picture


def wait(widget, timeout: float = 1800.0) -> None:
    """Process Qt events until the widget's worker has finished."""
    from qtpy.QtWidgets import QApplication

    start = time.monotonic()
    while widget.busy and time.monotonic() - start < timeout:
        QApplication.processEvents()
        time.sleep(0.02)
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.01)


def save(viewer, path: Path) -> None:
    """A screenshot of the whole window, as a PNG below :data:`LIMIT` (colours reduced when needed)."""
    from PIL import Image

    viewer.window.resize(1500, 950)
    wait_events()
    picture = Image.fromarray(viewer.screenshot(canvas_only=False, flash=False)).convert("RGB")
    for colours in (None, 256, 128, 64):
        image = picture if colours is None else picture.quantize(colors=colours, dither=Image.Dither.NONE)
        image.save(path, optimize=True)
        if path.stat().st_size < LIMIT:
            break
    print(f"{path}: {path.stat().st_size / 1000:.0f} kB, {picture.size[0]}×{picture.size[1]} px")


def wait_events() -> None:
    from qtpy.QtWidgets import QApplication

    for _ in range(30):
        QApplication.processEvents()
        time.sleep(0.02)


def dock(viewer, widget, name: str):
    """Show ``widget`` as the only dock widget on the right."""
    viewer.window.remove_dock_widget("all")
    viewer.window.add_dock_widget(widget, name=name, area="right")
    return widget


def add(viewer, layers) -> list:
    """Add sample-data layer tuples to the viewer."""
    added = []
    for data, keywords, kind in layers:
        added.append(getattr(viewer, f"add_{kind}")(data, **keywords))
    return added


def main(out: Path) -> None:
    import napari

    from temnn import Parameters
    from temnn.napari._apply_model import ApplyModelWidget
    from temnn.napari._fourier import FourierWidget
    from temnn.napari._roi import RoiPropertiesWidget
    from temnn.napari._sample_data import au_ceo2_sequence
    from temnn.napari._simulate import SimulateTrainWidget
    from temnn.napari._track import TrackWidget

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.gettempdir()) / "temnn-gui-screenshots"
    viewer = napari.Viewer(show=True, title="temnn")
    viewer.window.resize(1500, 900)

    # Simulate and train: a small Mask model for Au particles, the learning curve drawn live
    train = dock(viewer, SimulateTrainWidget(viewer), "Simulate and train")
    train.generator.value = "particle"
    train.form.set(Parameters(label="Mask", image_size=(96, 96), sampling=(0.18, 0.22), num_classes=2,
                              image_epochs=4, log_dose=(3.0, 4.0), normalizedistance=12.0))
    train.train_samples.value, train.validation_samples.value = 12, 3
    train.hyperparameters.value = '{"layers": 10}'
    train.epochs.value, train.batch_size.value = 8, 4
    train.folder.value = work
    images, truth = add(viewer, au_ceo2_sequence())
    truth.visible = False
    viewer.reset_view()
    train.run_button.native.click()
    wait(train)
    save(viewer, out / "napari_simulate_train.png")

    # Apply model: the trained model segments the sequence frame by frame
    apply = dock(viewer, ApplyModelWidget(viewer), "Apply model")
    apply.image.value = images
    apply.model_path.value = Path(f"{train.model}.json")
    apply.run_button.native.click()
    wait(apply)
    viewer.layers[f"{images.name} classes"].visible = False
    viewer.dims.set_point(1, 6)  # frame 6 (the class axis comes first)
    save(viewer, out / "napari_apply_model.png")

    # Label by 2+1D connectivity on the particle mask (the sample's ground truth: a small CPU-trained
    # model's segmentation is too rough to show the tracking well)
    track = dock(viewer, TrackWidget(viewer), "Label by 2+1D connectivity")
    track.segmentation.value = truth
    track.min_separation.value = 1.0
    track.run_button.native.click()
    wait(track)
    viewer.layers[f"{images.name} probability"].visible = False
    tracked = viewer.layers[f"{truth.name} tracked"]
    save(viewer, out / "napari_track.png")

    # FFT along time axis of the particle: its spectrum (1/Å) in the widget's plot, the particle outlined
    fourier = dock(viewer, FourierWidget(viewer), "FFT along time axis")
    fourier.image.value, fourier.tracked.value = images, tracked
    fourier.track_id.value = int(np.bincount(np.asarray(tracked.data).ravel())[1:].argmax() + 1)
    fourier.run_button.native.click()
    wait(fourier)
    for layer in viewer.layers:
        layer.visible = layer.name in (images.name, tracked.name)
    tracked.contour = 2
    viewer.reset_view()
    save(viewer, out / "napari_fft.png")
    tracked.contour = 0

    # ROI properties: table, area against time, CSV export
    roi = dock(viewer, RoiPropertiesWidget(viewer), "ROI properties")
    for layer in viewer.layers:
        layer.visible = layer.name in (images.name, tracked.name)
    roi.tracked.value = tracked
    roi.frame_interval.value = 0.4
    roi.run_button.native.click()
    wait(roi)
    viewer.reset_view()
    save(viewer, out / "napari_roi.png")

    viewer.close()
    find_atoms_screenshot(out)


def find_atoms_screenshot(out: Path) -> None:
    """Find atoms on the MoS2 focal series' Disk label, in a fresh viewer (no notifications of other steps)."""
    import napari

    from temnn.napari._atoms import FindAtomsWidget
    from temnn.napari._sample_data import mos2_focal_series

    viewer = napari.Viewer(show=True, title="temnn")
    viewer.window.resize(1500, 900)
    series, disk = add(viewer, mos2_focal_series())
    atoms = dock(viewer, FindAtomsWidget(viewer), "Find atoms")
    atoms.source.value = disk
    atoms.run_button.native.click()
    wait(atoms)
    viewer.dims.set_point(0, 1)
    viewer.reset_view()
    viewer.scene.camera.zoom *= 1.8  # the flake fills the canvas: the class colours of the columns show
    save(viewer, out / "napari_find_atoms.png")
    viewer.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs" / "images")
