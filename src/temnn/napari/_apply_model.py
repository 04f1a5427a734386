""""Apply model": run a trained temnn model on an image layer or stack, tile by tile, frame by frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, FileEdit, SpinBox
from napari.layers import Image

from ..errors import TemnnError
from ..io.models import list_models
from ._base import WorkerWidget, model_trained, show_warning
from ._layers import CLASS_AXIS, LayerFrames, derived_layer_kwargs, to_layer
from ._workers import Step, plan_prediction, predict_frames

__all__ = ["ApplyModelWidget", "load_model_file", "named_model_picker", "picked_model", "FROM_FILE"]

FROM_FILE = "model file below"
"""The model choice that means: use the file picked in the ``model`` field."""


def named_model_picker(*, labels: tuple[str, ...] | None = None) -> ComboBox:
    """A drop-down of the named models (shipped and ``TEMNN_MODEL_PATH``, as ``temnn models`` lists them).

    Its first choice, :data:`FROM_FILE`, means the model file picked beside it; every other
    choice is a model's name, shown with its label, material and beam energy [keV].

    Parameters
    ----------
    labels : tuple of str, optional
        Offer only models of these labels (e.g. ``("Disk", "Gaussian")``); None: all.
    """
    named = [(f"{m.name} ({m.label}, {m.material}, {m.beam_energy / 1e3:g} keV)" if m.beam_energy else m.name, m.name)
             for m in list_models() if labels is None or m.label in labels]
    return ComboBox(label="named model", choices=[(FROM_FILE, FROM_FILE), *named], value=FROM_FILE,
                    tooltip="a shipped or TEMNN_MODEL_PATH model (`temnn models` lists them), "
                            "or the model file picked below")


def picked_model(named: ComboBox, model_path: FileEdit) -> str | Path:
    """The named model picked in ``named``, or else the file of ``model_path`` (``""`` or ``"."``: none picked)."""
    return model_path.value if named.value == FROM_FILE else named.value


def load_model_file(path: str | Path) -> Any:
    """Load a model (stem, ``.json``, ``.safetensors`` or training folder) with :func:`temnn.load_model`.

    Raises
    ------
    TemnnError
        No file picked, or a file that is no temnn model.
    """
    from ..nn.checkpoints import load_model

    if not str(path) or str(path) == ".":
        raise TemnnError("model: pick a temnn model (its .json card or .safetensors weights, or a training folder)")
    model = load_model(path)
    if getattr(model, "task", None) is None or "normalizedistance" not in model.card:
        raise TemnnError(f"{path}: the model card has no task or normalizedistance; use a model saved by temnn train")
    return model


class ApplyModelWidget(WorkerWidget):
    """Apply a temnn model to the picked image layer: probability (and class) layers come out.

    Single-image models run on every frame of a stack; a model trained on focal series of C
    images takes each group of C frames (the ``defocus`` axis of a focal series) as one
    input. Frames outside the model's training sampling are resampled for the network, with
    a warning. Segmentation models add a probability layer ``(frame, class, y, x)`` and a
    labels layer of the most probable class (background 0); exit-wave models add the real
    and imaginary parts. The class axis comes first, ``(class, frame, y, x)``, so the frame
    slider moves images and predictions together.
    """

    title = "Apply model"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, run_text="Apply model")
        self.image = self.layer_picker("image", (Image,), tooltip="the image or stack to segment")
        self.named = named_model_picker()
        self.model_path = FileEdit(label="model", mode="r", filter="temnn model (*.json *.safetensors)",
                                   tooltip="a temnn model: its .json card or .safetensors weights")
        self.sampling = self.sampling_field()
        self.tile = SpinBox(label="tile [px]", value=512, min=16, max=8192, step=16)
        self.overlap = SpinBox(label="overlap [px]", value=64, min=0, max=1024, step=4)
        self.batch_size = SpinBox(label="batch size", value=4, min=1, max=256)
        self.extend([self.image, self.named, self.model_path, self.sampling, self.tile, self.overlap, self.batch_size])
        self.finish_layout()
        model_trained.connect(self._use_model)

    def _use_model(self, stem: Path) -> None:
        self.named.value = FROM_FILE
        self.model_path.value = Path(f"{stem}.json")

    @property
    def model_source(self) -> str | Path:
        """The named model picked, or else the model file."""
        return picked_model(self.named, self.model_path)

    def run(self) -> None:
        import warnings

        from ..nn.tiling import inference_sampling

        layer = self.required(self.image.value, "image layer")
        frames = LayerFrames.of(layer)
        sampling = self.sampling_of(layer, self.sampling.value)
        model = load_model_file(self.model_source)
        starts = plan_prediction(model, frames)
        with warnings.catch_warnings(record=True) as caught:  # the resampling warning, said once, here
            warnings.simplefilter("always")
            inference_sampling(model, sampling, source=f"layer '{layer.name}'")
        for warning in caught:
            show_warning(str(warning.message))
        channels = int(model.out_channels)
        nx, ny = frames.shape
        result = np.zeros((channels, len(starts), ny, nx), dtype=np.float32)

        def keep(step: Step) -> None:
            k, prediction = step.value
            result[:, k] = to_layer(prediction)

        def add_layers(_: Any) -> None:
            self._add_layers(layer, model, result, sampling, stacked=frames.has_frames and len(starts) > 1)

        self.start(predict_frames(model, frames, starts, sampling=sampling, tile=self.tile.value,
                                  overlap=self.overlap.value, batch_size=self.batch_size.value),
                   on_step=keep, on_done=add_layers)

    def _add_layers(self, source: Any, model: Any, result: np.ndarray, sampling: float, *, stacked: bool) -> None:
        """Add the prediction (and for segmentation the most probable class) as layers."""
        task = model.task
        data = result if stacked else result[:, 0]
        frames = stacked
        card = {"model": str(self.model_source), "label": task.label, "activation": task.activation,
                "sampling_angstrom": sampling}
        if task.activation == "linear":  # an exit wave: real and imaginary part
            self.viewer.add_image(data, **derived_layer_kwargs(
                source, sampling, frames=frames, leading=(CLASS_AXIS,), name=f"{source.name} exit wave",
                colormap="gray", metadata={"temnn": {**card, "channels": ["real", "imaginary"]}}))
            return
        background = channels_background(model)
        self.viewer.add_image(data, **derived_layer_kwargs(
            source, sampling, frames=frames, leading=(CLASS_AXIS,), name=f"{source.name} probability",
            colormap="magma", blending="additive", opacity=0.7,
            metadata={"temnn": {**card, "background_channel": background}}))
        self.viewer.add_labels(most_probable_class(data, background), **derived_layer_kwargs(
            source, sampling, frames=frames, name=f"{source.name} classes", opacity=0.5,
            metadata={"temnn": card}))


def channels_background(model: Any) -> int | None:
    """Index of the model's background channel (the last one, when the card's parameters have one)."""
    parameters = (model.card or {}).get("parameters") or {}
    channels = int(model.out_channels)
    if channels > 1 and parameters.get("null_class", True):
        return channels - 1
    return None


def most_probable_class(probability: np.ndarray, background: int | None) -> np.ndarray:
    """Class labels from class maps (K, ...): 1 + the most probable class, 0 for background.

    A single-channel (sigmoid) map gives 1 where the probability is at least 0.5.
    """
    if probability.shape[0] == 1:
        return (probability[0] >= 0.5).astype(np.uint8)
    labels = np.argmax(probability, axis=0).astype(np.uint8) + 1
    if background is not None:
        labels[labels == background % probability.shape[0] + 1] = 0
    return labels
