""""Get ROI properties": a table of the selected particles' properties and an area-vs-time plot (fig. 6.6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, FileEdit, FloatSpinBox, PushButton, Select, Table
from napari.layers import Labels

from ..errors import TemnnError
from ._base import WorkerWidget, figure_canvas, show_info
from ._fourier import check_not_empty
from ._layers import LayerFrames
from ._workers import roi_table

__all__ = ["RoiPropertiesWidget"]


class RoiPropertiesWidget(WorkerWidget):
    """Properties of the selected tracked particles in every frame: a table, a plot and a CSV file.

    Rows come from :func:`temnn.analysis.tracking.property_table` (area [nm²], centre of
    mass [nm], equivalent diameter [nm], perimeter [nm], eccentricity, displacement since
    the particle's previous frame [nm]); the plot shows the chosen property against time
    (frame number, or seconds when the frame interval is given).
    """

    title = "ROI properties"

    def __init__(self, napari_viewer: Any) -> None:
        from ..analysis.instances import INSTANCE_PROPERTIES

        super().__init__(napari_viewer, run_text="Get ROI properties")
        self.tracked = self.layer_picker("tracked labels", (Labels,), tooltip="from 'Label by 2+1D connectivity'")
        self.ids = Select(label="ids", choices=self._id_choices, tooltip="particles to show (none selected: all)")
        self.quantity = ComboBox(label="plot", choices=[*INSTANCE_PROPERTIES, "displacement_nm"], value="area_nm2")
        self.frame_interval = FloatSpinBox(label="frame interval [s]", value=0.0, min=0.0, max=1e6, step=0.1,
                                           tooltip="time between frames; 0 plots against frame number")
        self.sampling = self.sampling_field()
        self.csv_path = FileEdit(label="CSV file", mode="w", filter="CSV (*.csv)", value="properties.csv")
        self.export_button = PushButton(text="Export CSV", enabled=False)
        self.table = Table(label="")
        self.extend([self.tracked, self.ids, self.quantity, self.frame_interval, self.sampling])
        self.finish_layout()
        self.extend([self.table, self.csv_path, self.export_button])
        self.figure, self.canvas = figure_canvas(self, height=2.6)
        self.rows: list[dict[str, float]] = []
        self.tracked.changed.connect(lambda *_: self.ids.reset_choices())
        self.quantity.changed.connect(lambda *_: self._plot())
        self.export_button.changed.connect(self._on_export)

    def _id_choices(self, _: Any) -> list[int]:
        picker = getattr(self, "tracked", None)  # called once while the form is being built
        layer = picker.value if picker is not None else None
        if layer is None:
            return []
        data = np.asarray(layer.data)
        return [int(i) for i in np.unique(data) if i != 0]

    def run(self) -> None:
        layer = self.required(self.tracked.value, "tracked labels layer")
        check_not_empty(layer)
        labels = LayerFrames.of(layer)
        sampling = self.sampling_of(layer, self.sampling.value)
        ids = [int(i) for i in self.ids.value]
        interval = self.frame_interval.value or None
        self.start(lambda: roi_table(labels, ids, sampling=sampling, frame_interval=interval), on_done=self._show)

    def _show(self, rows: list[dict[str, float]]) -> None:
        self.rows = rows
        columns = list(rows[0]) if rows else []
        self.table.value = {c: [row.get(c) for row in rows] for c in columns}
        self.export_button.enabled = bool(rows)
        self.status.value = f"{len(rows)} rows, {len({int(r['id']) for r in rows})} particle(s)"
        self._plot()

    def _plot(self) -> None:
        from ..analysis.tracking import plot_property

        self.figure.clear()
        if self.rows:
            ax = self.figure.add_subplot()
            plot_property(self.rows, name=self.quantity.value, ax=ax)
        self.canvas.draw_idle()

    def _on_export(self, *_: Any) -> None:
        try:
            self.export(self.csv_path.value)
        except TemnnError as err:
            from ._base import show_error

            show_error(f"{self.title}: {err}")

    def export(self, path: str | Path) -> Path:
        """Write the table to a CSV file (atomically) and return its path.

        Parameters
        ----------
        path : str or pathlib.Path
            The ``.csv`` file.
        """
        from ..io.tables import write_csv

        if not self.rows:
            raise TemnnError("no table yet: press 'Get ROI properties' first")
        path = Path(path)
        if path.is_dir():
            raise TemnnError(f"CSV file: {path} is a folder; give a file name ending in .csv")
        write_csv(self.rows, path)
        show_info(f"{self.title}: wrote {len(self.rows)} rows to {path}")
        return path
