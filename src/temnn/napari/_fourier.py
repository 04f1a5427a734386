""""FFT along time axis": local power spectra of one tracked particle, one per frame (thesis fig. 6.4)."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import FloatSpinBox, SpinBox
from napari.layers import Image, Labels

from ..errors import TemnnError
from ._base import WorkerWidget
from ._layers import LayerFrames, to_layer
from ._workers import Step, check_same_frames, power_spectra

__all__ = ["FourierWidget", "check_not_empty"]


def check_not_empty(layer: Any) -> None:
    """Raise :class:`TemnnError` when a labels layer holds no particle at all."""
    data = layer.data
    empty = not (data.any().compute() if hasattr(data, "compute") else np.any(data))
    if empty:
        raise TemnnError(f"labels layer '{layer.name}' is empty (no particle ids); run 'Label by 2+1D connectivity' "
                         "on a segmentation first, or paint the particles")


class FourierWidget(WorkerWidget):
    """Crop one tracked particle out of every frame with its own mask and take its power spectrum.

    The mask edge is softened by a Gaussian (apodisation) so the outline does not streak the
    transform (:func:`temnn.analysis.fourier.instance_power_spectra`). The spectra come out
    as one image layer, log10 of the power, one spectrum per frame, calibrated in 1/Å with
    zero frequency at the origin; frames without the particle are empty (NaN).
    """

    title = "FFT along time axis"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, run_text="Get FFT along time axis")
        self.image = self.layer_picker("image", (Image,), tooltip="the images (not the probabilities)")
        self.tracked = self.layer_picker("tracked labels", (Labels,), tooltip="from 'Label by 2+1D connectivity'")
        self.track_id = SpinBox(label="id", value=1, min=1, max=2**31 - 1,
                                tooltip="the particle's id (the labels layer's selected label)")
        self.sigma = FloatSpinBox(label="edge σ [px]", value=2.0, min=0.0, max=100.0, step=0.5,
                                  tooltip="Gaussian softening of the mask edge [pixels]")
        self.size = SpinBox(label="crop [px]", value=0, min=0, max=8192,
                            tooltip="side of the square crop [pixels]; 0: from the particle's largest extent")
        self.sampling = self.sampling_field()
        self.extend([self.image, self.tracked, self.track_id, self.sigma, self.size, self.sampling])
        self._followed: Any = None
        self.tracked.changed.connect(self._follow_selected_label)
        self.finish_layout()
        self._follow_selected_label(self.tracked.value)

    def _follow_selected_label(self, layer: Any) -> None:
        """Take the id from the labels layer's selected label, now and whenever it changes."""
        if self._followed is not None:
            self._followed.events.selected_label.disconnect(self._take_selected_label)
        self._followed = layer
        if layer is not None:
            layer.events.selected_label.connect(self._take_selected_label)
            self._take_selected_label()

    def _take_selected_label(self, *_: Any) -> None:
        if self._followed is not None and self._followed.selected_label > 0:
            self.track_id.value = int(self._followed.selected_label)

    def run(self) -> None:
        image = self.required(self.image.value, "image layer")
        labels_layer = self.required(self.tracked.value, "tracked labels layer")
        images, labels = LayerFrames.of(image), LayerFrames.of(labels_layer)
        check_same_frames(images, labels)
        check_not_empty(labels_layer)
        sampling = self.sampling_of(image, self.sampling.value)
        track_id = int(self.track_id.value)
        spectra: list[np.ndarray | None] = [None] * len(images)

        def keep(step: Step) -> None:
            t, spectrum = step.value
            spectra[t] = to_layer(spectrum)

        def add_layer(_: Any) -> None:
            power = np.stack(spectra)
            log_power = np.full(power.shape, np.nan, dtype=np.float32)
            positive = np.isfinite(power) & (power > 0)
            log_power[positive] = np.log10(power[positive])
            size = power.shape[-1]
            dq = 1.0 / (size * sampling)  # one spectrum pixel [1/Å]: spectra and images then span similar numbers
            finite = log_power[np.isfinite(log_power)]
            limits = tuple(float(v) for v in np.percentile(finite, (1.0, 99.9))) if finite.size else (0.0, 1.0)
            data = log_power if images.has_frames else log_power[0]
            lead = 1 if images.has_frames else 0
            self.viewer.add_image(
                data, name=f"{image.name} FFT id {track_id}", colormap="inferno", contrast_limits=limits,
                scale=[1.0] * lead + [dq, dq], translate=[0.0] * lead + [-(size // 2) * dq] * 2,
                units=["pixel"] * lead + ["1/angstrom", "1/angstrom"], axis_labels=(["frame"] * lead) + ["y", "x"],
                metadata={"temnn": {"track_id": track_id, "sampling_angstrom": sampling, "crop_pixels": size,
                                    "sigma_pixels": self.sigma.value, "quantity": "log10 power spectrum"}})

        self.start(power_spectra(images, labels, track_id, sigma=self.sigma.value, size=self.size.value or None),
                   on_step=keep, on_done=add_layer)
