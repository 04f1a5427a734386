""""Label by 2+1D connectivity": split every frame into particles and track them (thesis section 6.1)."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import FloatSpinBox, SpinBox
from napari.layers import Image, Labels

from ._base import WorkerWidget, show_warning
from ._layers import LayerFrames, derived_layer_kwargs, to_layer
from ._workers import Step, track_frames

__all__ = ["TrackWidget"]


class TrackWidget(WorkerWidget):
    """Particles of a probability or binary layer, tracked from frame to frame, as a Labels layer.

    Every frame is thresholded and split by a watershed on its distance map, seeds at least
    the minimum separation apart; particles smaller than its square are dropped; a particle
    keeps the id of the previous-frame particle it overlaps most (:func:`temnn.track`).
    """

    title = "Label by 2+1D connectivity"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, run_text="Label by 2+1D connectivity")
        self.segmentation = self.layer_picker(
            "segmentation", (Image, Labels),
            tooltip="probability maps (0-1) or a labels layer (every non-zero pixel is particle)")
        self.channel = SpinBox(label="channel", value=0, min=0, max=255,
                               tooltip="class channel of a probability layer with a class axis (0: particles)")
        self.min_separation = FloatSpinBox(label="min separation [nm]", value=1.0, min=0.001, max=1e4, step=0.1,
                                           tooltip="smallest distance between particle centres; its square is "
                                                   "the smallest particle area kept [nm²]")
        self.threshold = FloatSpinBox(label="threshold", value=0.5, min=0.0, max=1.0, step=0.05,
                                      tooltip="a pixel is particle where the probability is at least this")
        self.overlap = FloatSpinBox(label="overlap", value=0.5, min=0.01, max=1.0, step=0.05,
                                    tooltip="smallest overlap |A∩B|/min(|A|,|B|) that keeps an id between frames")
        self.sampling = self.sampling_field()
        self.extend([self.segmentation, self.channel, self.min_separation, self.threshold, self.overlap,
                     self.sampling])
        self.finish_layout()

    def run(self) -> None:
        layer = self.required(self.segmentation.value, "segmentation layer")
        frames = LayerFrames.of(layer)
        sampling = self.sampling_of(layer, self.sampling.value)
        channel = self.channel.value if frames.has_classes else None
        if channel is not None:
            frames.frame(0, channel)  # check the channel now
        nx, ny = frames.shape
        tracked = np.zeros((len(frames), ny, nx), dtype=np.int32)

        def keep(step: Step) -> None:
            t, labels = step.value
            tracked[t] = to_layer(labels)

        def add_layer(_: Any) -> None:
            if not tracked.any():
                show_warning(
                    f"{self.title}: no particle found in layer '{layer.name}' (threshold {self.threshold.value:g}, "
                    f"smallest area {self.min_separation.value ** 2:g} nm²); lower the threshold or the minimum "
                    "separation, or check the segmentation"
                )
            data = tracked if frames.has_frames else tracked[0]
            self.viewer.add_labels(data, **derived_layer_kwargs(
                layer, sampling, frames=frames.has_frames, name=f"{layer.name} tracked",
                metadata={"temnn": {"min_separation_nm": self.min_separation.value, "sampling_angstrom": sampling,
                                    "threshold": self.threshold.value, "overlap": self.overlap.value}}))

        self.start(track_frames(frames, channel=channel, binary=isinstance(layer, Labels),
                                min_separation=self.min_separation.value, sampling=sampling,
                                threshold=self.threshold.value, overlap=self.overlap.value),
                   on_step=keep, on_done=add_layer)
