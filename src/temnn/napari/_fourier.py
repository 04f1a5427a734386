""""FFT along time axis": local power spectra of one tracked particle, one per frame (thesis fig. 6.4)."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import FloatSpinBox, SpinBox
from napari.layers import Image, Labels

from ..errors import TemnnError
from ._base import WorkerWidget, figure_canvas
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
    transform (:func:`temnn.analysis.fourier.instance_power_spectra`). The spectra, log10 of
    the power, one per frame, are drawn in the widget's own plot, calibrated in 1/Å with zero
    frequency at the centre, for the frame the viewer shows; frames without the particle are
    empty (NaN). They are not a layer: reciprocal space (1/Å) cannot share the viewer's
    coordinate system with images in nm.
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
        self.figure, self.canvas = figure_canvas(self, height=3.6)
        self.spectra: np.ndarray | None = None
        """log10 power spectra of the last run, (frame, qy, qx), zero frequency at size // 2 (NaN: no particle)."""
        self.dq = 0.0
        """One spectrum pixel of the last run [1/Å]."""
        self.info: dict[str, Any] = {}
        """What the last run measured: track id, sampling [Å], crop [pixels], edge σ [pixels]."""
        self.frame = 0
        """The frame whose spectrum is drawn."""
        self._source: Any = None  # the image layer of the last run: maps the viewer's frame to its own
        self._limits = (0.0, 1.0)
        self.viewer.dims.events.current_step.connect(self._follow_frame)
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

    def viewer_frame(self) -> int:
        """The frame of the last run's image layer that the viewer shows (0 for a single image)."""
        if self.spectra is None or self._source is None or self._source.ndim < 3:
            return 0
        axis = self.viewer.dims.ndim - self._source.ndim  # layers line up from their last axis
        world = self.viewer.dims.point[axis] if axis >= 0 else 0.0
        frame = round((world - self._source.translate[0]) / self._source.scale[0])
        return int(np.clip(frame, 0, len(self.spectra) - 1))

    def _follow_frame(self, *_: Any) -> None:
        if self.spectra is not None and self.viewer_frame() != self.frame:
            self._plot()

    def _plot(self) -> None:
        """Draw the spectrum of the viewer's frame, qx and qy in 1/Å, y down as in the viewer."""
        self.figure.clear()
        if self.spectra is None:
            self.canvas.draw_idle()
            return
        self.frame = self.viewer_frame()
        size = self.spectra.shape[-1]
        low, high = (-(size // 2) - 0.5) * self.dq, (size - size // 2 - 0.5) * self.dq
        ax = self.figure.add_subplot()
        shown = ax.imshow(self.spectra[self.frame], cmap="inferno", origin="upper", extent=(low, high, high, low),
                          vmin=self._limits[0], vmax=self._limits[1], interpolation="nearest")
        ax.set_xlabel("qx [1/Å]")
        ax.set_ylabel("qy [1/Å]")
        ax.set_title(f"id {self.info['track_id']}, frame {self.frame}", fontsize="medium")
        self.figure.colorbar(shown, ax=ax, label="log10 power")
        self.canvas.draw_idle()

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

        def show(_: Any) -> None:
            power = np.stack(spectra)
            log_power = np.full(power.shape, np.nan, dtype=np.float32)
            positive = np.isfinite(power) & (power > 0)
            log_power[positive] = np.log10(power[positive])
            size = power.shape[-1]
            finite = log_power[np.isfinite(log_power)]
            self._limits = tuple(float(v) for v in np.percentile(finite, (1.0, 99.9))) if finite.size else (0.0, 1.0)
            self.spectra, self.dq, self._source = log_power, 1.0 / (size * sampling), image
            self.info = {"track_id": track_id, "sampling_angstrom": sampling, "crop_pixels": size,
                         "sigma_pixels": self.sigma.value, "quantity": "log10 power spectrum"}
            self._plot()
            self.status.value = (f"id {track_id}: {len(log_power)} spectra of {size}×{size} px, "
                                 f"{self.dq:.4g} 1/Å per px")

        self.start(power_spectra(images, labels, track_id, sigma=self.sigma.value, size=self.size.value or None),
                   on_step=keep, on_done=show)
