"""What every temnn dock widget shares: layer pickers, Run/Cancel, progress, notifications.

A widget is a magicgui :class:`~magicgui.widgets.Container` (a form) whose Run button
checks the inputs in the main thread and then starts a worker generator from
:mod:`temnn.napari._workers` in a napari worker thread
(:func:`napari.qt.threading.create_worker`), so the viewer never freezes. Every
:class:`~temnn.napari._workers.Step` the worker yields moves the progress bar and is handed
to the widget; Cancel stops the worker at its next step. Bad input never raises into Qt:
a :class:`temnn.TemnnError` (from the widget's checks or from the library, in either
thread) becomes an error notification with the library's message, which names the input
and what to do; any other exception becomes an error notification too.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Generator

from magicgui.widgets import ComboBox, Container, FloatSpinBox, HBox, Label, ProgressBar, PushButton
from napari.utils.notifications import show_error, show_info, show_warning
from psygnal import Signal

from ..errors import TemnnError
from ._layers import calibrate, is_calibrated, layer_sampling
from ._workers import Step

__all__ = ["WorkerWidget", "model_trained", "show_error", "show_info", "show_warning", "figure_canvas"]

_log = logging.getLogger(__name__)


class _Events:
    """Plugin-wide signals (a class, because psygnal signals live on instances)."""

    model_trained = Signal(object)  # the stem (pathlib.Path) of a model that "Simulate and train" finished


_EVENTS = _Events()
model_trained = _EVENTS.model_trained
"""Emitted with a model's stem when "Simulate and train" finishes; "Apply model" picks it up."""


class WorkerWidget(Container):
    """A form with Run and Cancel buttons, a progress bar and a status line.

    Subclasses add their fields, call :meth:`finish_layout`, and implement :meth:`run`,
    which checks the inputs (raising :class:`temnn.TemnnError`) and calls :meth:`start`.

    Parameters
    ----------
    napari_viewer : napari.viewer.Viewer
        The viewer whose layers the widget reads and adds to.
    run_text : str
        Text of the Run button.
    """

    title = "temnn"

    def __init__(self, napari_viewer: Any, *, run_text: str) -> None:
        super().__init__(labels=True)
        self.viewer = napari_viewer
        self.run_button = PushButton(text=run_text)
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(value=0, min=0, max=1, label="progress")
        self.status = Label(value="")
        self.worker: Any = None
        self._outcome = ""  # how the last worker ended: done, failed or cancelled
        self.run_button.changed.connect(self._on_run)
        self.cancel_button.changed.connect(self.cancel)
        events = self.viewer.layers.events
        for event in (events.inserted, events.removed, events.moved):
            event.connect(self._on_layers_changed)

    # ------------------------------------------------------------------------- building
    def layer_picker(self, label: str, types: tuple[type, ...], *, nullable: bool = False,
                     tooltip: str | None = None) -> ComboBox:
        """A drop-down of the viewer's layers of the given types, kept up to date."""

        def choices(_: Any) -> list[tuple[str, Any]]:
            return [(layer.name, layer) for layer in self.viewer.layers if isinstance(layer, types)]

        return ComboBox(label=label, choices=choices, nullable=nullable, tooltip=tooltip)

    @staticmethod
    def sampling_field() -> FloatSpinBox:
        """The 'sampling [Å/px]' field: 0 means 'from the layer's scale'."""
        return FloatSpinBox(label="sampling [Å/px]", value=0.0, min=0.0, max=1000.0, step=0.001,
                            tooltip="pixel size in Å/pixel; 0 takes it from the layer's scale (nm)")

    def finish_layout(self) -> None:
        """Append the buttons, the progress bar and the status line below the fields."""
        self.extend([HBox(widgets=[self.run_button, self.cancel_button], label=""), self.progress, self.status])
        self.reset_choices()

    def _on_layers_changed(self, *_: Any) -> None:
        self.reset_choices()

    # --------------------------------------------------------------------------- inputs
    def sampling_of(self, layer: Any, override: float) -> float:
        """A layer's sampling [Å/pixel]; a given ``override`` calibrates an uncalibrated layer.

        Raises
        ------
        TemnnError
            An uncalibrated layer and no sampling given (see :func:`layer_sampling`).
        """
        sampling = layer_sampling(layer, override or None)
        if override and not is_calibrated(layer):
            calibrate(layer, sampling)
            show_info(f"layer '{layer.name}' calibrated at {sampling:.4g} Å/pixel ({sampling / 10:.4g} nm)")
        return sampling

    @staticmethod
    def required(value: Any, what: str) -> Any:
        """``value``, or a :class:`TemnnError` saying that ``what`` must be picked first."""
        if value is None:
            raise TemnnError(f"{what}: none picked; add or open such a layer first, then pick it here")
        return value

    # ---------------------------------------------------------------------------- running
    @property
    def busy(self) -> bool:
        """Whether a worker is running."""
        return self.worker is not None

    def _on_run(self, *_: Any) -> None:
        if self.busy:
            show_warning(f"{self.title}: already running; wait, or press Cancel")
            return
        try:
            self.run()
        except TemnnError as err:
            show_error(f"{self.title}: {err}")
        except Exception as err:  # never crash the viewer: report and log the traceback
            _log.exception("%s failed", self.title)
            show_error(f"{self.title} failed: {type(err).__name__}: {err}")

    def run(self) -> None:
        """Check the inputs and start the work (subclasses)."""
        raise NotImplementedError

    def start(self, work: Generator[Step, None, Any] | Callable[[], Any], *,
              on_step: Callable[[Step], None] | None = None, on_done: Callable[[Any], None] | None = None) -> Any:
        """Run ``work`` in a worker thread: a generator of :class:`Step` (progress) or a function (busy bar).

        Parameters
        ----------
        work : generator or callable
            The worker generator (from :mod:`temnn.napari._workers`), or a function.
        on_step : callable, optional
            Called in the main thread with every step.
        on_done : callable, optional
            Called in the main thread with the generator's or function's return value
            (not after Cancel or an error).

        Returns
        -------
        napari.qt.threading.GeneratorWorker or FunctionWorker
            The started worker (also :attr:`worker`).
        """
        from napari.qt.threading import create_worker

        if callable(work):
            worker = create_worker(work, _start_thread=False, _ignore_errors=True)
            self.progress.max = 0  # busy indicator
        else:
            def generate() -> Generator[Step, None, Any]:
                return (yield from work)

            worker = create_worker(generate, _start_thread=False, _ignore_errors=True)
            self.progress.max = 1
            worker.yielded.connect(lambda step: self._on_step(step, on_step))
            worker.aborted.connect(lambda: setattr(self, "_outcome", "cancelled"))
        self.progress.value = 0
        worker.returned.connect(lambda result: self._on_returned(result, on_done))
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._outcome = ""
        self.worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        self.status.value = "running…"
        worker.start()
        return worker

    def cancel(self, *_: Any) -> None:
        """Stop the running worker at its next step."""
        if self.worker is not None:
            self.worker.quit()
            self.status.value = "cancelling…"

    def _on_step(self, step: Step, on_step: Callable[[Step], None] | None) -> None:
        self.progress.max = max(int(step.total), 1)
        self.progress.value = min(int(step.done), int(step.total))
        self.status.value = step.message
        if on_step is not None:
            self._guard(on_step, step)

    def _guard(self, function: Callable[[Any], None], value: Any) -> None:
        try:
            function(value)
        except TemnnError as err:
            show_error(f"{self.title}: {err}")
        except Exception as err:
            _log.exception("%s failed", self.title)
            show_error(f"{self.title} failed: {type(err).__name__}: {err}")

    def _on_returned(self, result: Any, on_done: Callable[[Any], None] | None) -> None:
        self._outcome = "done"
        if on_done is not None:
            self._guard(on_done, result)

    def _on_error(self, err: BaseException) -> None:
        self._outcome = "failed"
        if isinstance(err, TemnnError):
            show_error(f"{self.title}: {err}")
        else:
            _log.error("%s failed", self.title, exc_info=err)
            show_error(f"{self.title} failed: {type(err).__name__}: {err}")

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        if self.progress.max == 0:
            self.progress.max = 1
            self.progress.value = 1 if self._outcome == "done" else 0
        if self._outcome != "done" or self.status.value in ("running…", ""):
            self.status.value = self._outcome or "stopped"


def figure_canvas(container: Container, *, height: float = 3.0) -> tuple[Any, Any]:
    """A matplotlib figure drawn in a Qt canvas appended to ``container``.

    Parameters
    ----------
    container : magicgui.widgets.Container
        Where the canvas goes (below the container's widgets).
    height : float
        Figure height [inches].

    Returns
    -------
    (matplotlib.figure.Figure, FigureCanvasQTAgg)
    """
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.0, height), layout="constrained")
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(int(height * 60))
    container.native.layout().addWidget(canvas)
    return figure, canvas
