""""Simulate and train": structures → exit waves → images → a trained model, from one form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magicgui.widgets import ComboBox, FileEdit, FloatSpinBox, LineEdit, PushButton, SpinBox

from ..errors import TemnnError
from ..parameters import Parameters
from ._base import WorkerWidget, figure_canvas, model_trained, show_info
from ._form import ParametersForm
from ._workers import GENERATORS, Step, TrainingRun, default_parameters, simulate_and_train

__all__ = ["SimulateTrainWidget", "ParametersForm"]


class SimulateTrainWidget(WorkerWidget):
    """Generate a training set, its images and labels, and train a network, in the background.

    Pick a structure generator (MoS2 flakes at 50 keV, or CeO2-supported Au particles at
    300 keV), edit the parameters file in the typed form (every field with its unit), or
    load one, and run: structures and
    exit waves (abTEM multislice), images and labels, then training, one epoch at a time
    with the learning curve drawn live. Every stage resumes when run again with the same
    settings. The best model is then picked up by "Apply model".
    """

    title = "Simulate and train"

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer, run_text="Simulate and train")
        self.generator = ComboBox(label="structures", choices=list(GENERATORS), value="mos2",
                                  tooltip="mos2: MoS2 flakes (50 keV, Disk labels); particle: Au on CeO2 (300 keV, "
                                          "Mask labels)")
        self.form = ParametersForm(default_parameters("mos2"))
        self.form.min_height = self.form.max_height = 260  # [px]: the form scrolls, the buttons stay in view
        self.parameters_file = FileEdit(label="parameters file", mode="r", filter="JSON (*.json)", value="")
        self.load_button = PushButton(text="Load parameters")
        self.save_button = PushButton(text="Save parameters")
        self.train_samples = SpinBox(label="training structures", value=8, min=1, max=100000)
        self.validation_samples = SpinBox(label="validation structures", value=2, min=1, max=100000)
        self.cell = FloatSpinBox(label="cell [Å]", value=0.0, min=0.0, max=1000.0, step=1.0,
                                 tooltip="lateral size of the simulation cell; 0: the generator's default")
        self.arch = ComboBox(label="architecture", choices=["msdnet", "unet", "unetpp"], value="msdnet")
        self.hyperparameters = LineEdit(label="architecture options", value='{"layers": 20}',
                                        tooltip='JSON, e.g. {"layers": 20} (msdnet) or {"levels": 2, "filters": 8}')
        self.epochs = SpinBox(label="epochs", value=5, min=1, max=100000)
        self.batch_size = SpinBox(label="batch size", value=4, min=1, max=4096)
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        self.folder = FileEdit(label="work folder", mode="d", value=str(Path.home() / "temnn-gui"),
                               tooltip="data sets, images and the model go here; a re-run resumes")
        self.extend([self.generator, self.form, self.parameters_file, self.load_button, self.save_button,
                     self.train_samples, self.validation_samples, self.cell, self.arch, self.hyperparameters,
                     self.epochs, self.batch_size, self.seed, self.folder])
        self.finish_layout()
        self.figure, self.canvas = figure_canvas(self, height=2.4)
        self.history: list[dict[str, Any]] = []
        self.model: Path | None = None
        self.generator.changed.connect(lambda name: self.form.set(default_parameters(name)))
        self.load_button.changed.connect(lambda *_: self._guard(self._load, None))
        self.save_button.changed.connect(lambda *_: self._guard(self._save, None))

    def _load(self, _: Any) -> None:
        self.form.set(Parameters.load(self._parameters_path()))

    def _save(self, _: Any) -> None:
        path = self._parameters_path()
        self.form.parameters.save(path)
        show_info(f"{self.title}: saved {path}")

    def _parameters_path(self) -> Path:
        path = Path(str(self.parameters_file.value))
        if str(path) in ("", ".") or path.is_dir():
            raise TemnnError("parameters file: pick a .json file first")
        return path

    def training_run(self) -> TrainingRun:
        """The run that the form describes (validated)."""
        try:
            options = json.loads(self.hyperparameters.value or "{}")
        except json.JSONDecodeError:
            options = None
        if not isinstance(options, dict):
            raise TemnnError(f"architecture options: expected a JSON object such as {{\"layers\": 20}}, "
                             f"got {self.hyperparameters.value!r}")
        return TrainingRun(
            generator=self.generator.value, parameters=self.form.parameters, folder=Path(str(self.folder.value)),
            train_samples=self.train_samples.value, validation_samples=self.validation_samples.value,
            epochs=self.epochs.value, arch=self.arch.value, hyperparameters=options,
            batch_size=self.batch_size.value, cell=self.cell.value or None, seed=self.seed.value)

    def run(self) -> None:
        run = self.training_run()
        self.history = []
        self.model = None
        self._plot()
        self.start(simulate_and_train(run), on_step=self._on_epoch, on_done=self._on_trained)

    def _on_epoch(self, step: Step) -> None:
        if step.value is not None:
            self.history = step.value
            self._plot()

    def _on_trained(self, stem: Path) -> None:
        self.model = Path(stem)
        self.status.value = f"model ready: {self.model}"
        show_info(f"{self.title}: model ready ({self.model}.json); 'Apply model' uses it now")
        model_trained.emit(self.model)

    def _plot(self) -> None:
        self.figure.clear()
        ax = self.figure.add_subplot()
        epochs = [row["epoch"] for row in self.history]
        for key, name in (("train_loss", "training"), ("val_loss", "validation")):
            ax.plot(epochs, [row[key] for row in self.history], marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if self.history:
            ax.legend(fontsize="small")
        self.canvas.draw_idle()

