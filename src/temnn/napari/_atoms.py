""""Find atoms": atomic columns and their classes as a Points layer coloured by class."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, FileEdit, FloatSpinBox, Label
from napari.layers import Image
from qtpy.QtCore import Qt

from ..errors import TemnnError
from ._apply_model import channels_background, load_model_file, named_model_picker, picked_model
from ._base import WorkerWidget, show_warning
from ._layers import LayerFrames, derived_layer_kwargs
from ._workers import Step, find_atoms, plan_prediction

__all__ = ["FindAtomsWidget", "class_colours", "legend_entries"]

_PALETTE = np.array([  # matplotlib's tab10, RGBA
    [0.122, 0.467, 0.706, 1.0], [1.0, 0.498, 0.055, 1.0], [0.173, 0.627, 0.173, 1.0], [0.839, 0.153, 0.157, 1.0],
    [0.580, 0.404, 0.741, 1.0], [0.549, 0.337, 0.294, 1.0], [0.890, 0.467, 0.761, 1.0], [0.498, 0.498, 0.498, 1.0],
    [0.737, 0.741, 0.133, 1.0], [0.090, 0.745, 0.812, 1.0],
])


def class_colours(classes: np.ndarray) -> np.ndarray:
    """One RGBA colour per point from its class (tab10, cycling)."""
    return _PALETTE[np.asarray(classes, dtype=np.int64) % len(_PALETTE)]


def legend_entries(classes: np.ndarray, names: list[str]) -> list[tuple[str, str, int]]:
    """(class name, colour as ``#rrggbb``, number of columns) for every class found, in class order."""
    classes = np.asarray(classes, dtype=np.int64)
    entries = []
    for c in np.unique(classes):
        r, g, b = (int(round(255 * v)) for v in class_colours(np.array([c]))[0, :3])
        name = names[c] if 0 <= c < len(names) else f"class {c}"
        entries.append((name, f"#{r:02x}{g:02x}{b:02x}", int((classes == c).sum())))
    return entries


_COLUMN_LABELS = ("Disk", "Gaussian")  # labels whose channels are column classes


class FindAtomsWidget(WorkerWidget):
    """Column positions and classes from a Disk probability layer, or from an image and a Disk model
    (a named model, such as the shipped ``mos2-focal3-columns``, or a model file).

    Peaks at least ``min distance`` apart and above ``threshold`` are found in 1 − the
    background channel (or the sum of the channels) and refined to sub-pixel precision;
    each takes the class of its most probable channel (:func:`temnn.find_peaks`). Points
    carry the features ``class``, ``class_name`` and ``probability``, coloured by class; the
    legend under the Run button names each colour's class and counts its columns.
    """

    title = "Find atoms"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, run_text="Find atoms")
        self.source = self.layer_picker("layer", (Image,),
                                        tooltip="a Disk probability layer, or an image when a model is given")
        self.named = named_model_picker(labels=_COLUMN_LABELS)
        self.model_path = FileEdit(label="Disk model", mode="r", filter="temnn model (*.json *.safetensors)",
                                   value="", tooltip="optional: a Disk model applied to the image layer first")
        self.min_distance = FloatSpinBox(label="min distance [Å]", value=1.2, min=0.01, max=1000.0, step=0.1,
                                         tooltip="smallest distance between two columns")
        self.threshold = FloatSpinBox(label="threshold", value=0.5, min=0.0, max=1.0, step=0.05,
                                      tooltip="smallest column probability")
        self.last_is_background = CheckBox(label="last channel is background", value=True)
        self.sampling = self.sampling_field()
        self.extend([self.source, self.named, self.model_path, self.min_distance, self.threshold,
                     self.last_is_background, self.sampling])
        self.finish_layout()
        self.legend = Label(label="classes", value="")
        self.legend.native.setTextFormat(Qt.TextFormat.RichText)  # coloured discs before the names
        self.append(self.legend)

    def run(self) -> None:
        layer = self.required(self.source.value, "layer")
        frames = LayerFrames.of(layer)
        sampling = self.sampling_of(layer, self.sampling.value)
        model = None
        names: list[str] = list((layer.metadata.get("temnn") or {}).get("class_names") or [])
        source = picked_model(self.named, self.model_path)
        if str(source) not in ("", "."):
            model = load_model_file(source)
            if model.task.label not in _COLUMN_LABELS:
                raise TemnnError(f"{source}: a {model.task.label} model; Find atoms needs a Disk "
                                 "(or Gaussian) model, whose channels are column classes")
            total = len(plan_prediction(model, frames))
            background = channels_background(model)
            info = (getattr(model, "card", None) or {}).get("model_info") or {}
            names = [str(n) for n in info.get("class_names") or []]
        else:
            total = len(frames)
            background = -1 if frames.has_classes and frames.classes > 1 and self.last_is_background.value else None
        found: list[tuple[int, Any]] = []

        def keep(step: Step) -> None:
            found.append(step.value)

        def add_layer(_: Any) -> None:
            self._add_points(layer, found, sampling, names, stacked=total > 1 and frames.has_frames)

        self.start(find_atoms(frames, model=model, sampling=sampling, min_spacing=self.min_distance.value,
                              threshold=self.threshold.value, background=background),
                   on_step=keep, on_done=add_layer)

    def _add_points(self, source: Any, found: list[tuple[int, Any]], sampling: float, names: list[str], *,
                    stacked: bool) -> None:
        rows, classes, values = [], [], []
        for t, peaks in found:
            rc = peaks.positions[:, ::-1]  # (ix, iy) → (row, column)
            rows.append(np.column_stack([np.full(len(rc), t), rc]) if stacked else rc)
            classes.append(peaks.classes)
            values.append(peaks.values)
        data = np.concatenate(rows) if rows else np.zeros((0, 3 if stacked else 2))
        cls = np.concatenate(classes) if classes else np.zeros(0, np.int64)
        if len(data) == 0:
            show_warning(f"{self.title}: no columns above threshold {self.threshold.value:g} in layer "
                         f"'{source.name}'; lower the threshold or check the probability layer")
        class_names = [names[c] if 0 <= c < len(names) else f"class {c}" for c in cls]
        self.viewer.add_points(data, **derived_layer_kwargs(
            source, sampling, frames=stacked, name=f"{source.name} atoms",
            features={"class": cls, "class_name": class_names,
                      "probability": np.concatenate(values) if values else np.zeros(0)},
            face_color=class_colours(cls) if len(cls) else "white", border_width=0,
            # a disc as wide as the column spacing; napari sizes points in data units (pixels here)
            size=max(self.min_distance.value / sampling, 4.0),
            metadata={"temnn": {"sampling_angstrom": sampling, "class_names": names}}))
        self.legend.value = " ".join(
            f'<span style="color:{colour}">&#9679;</span>&nbsp;{name}&nbsp;({count})&nbsp;'
            for name, colour, count in legend_entries(cls, names))
