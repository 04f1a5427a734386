"""'Simulate and train': the parameters form, and a tiny run from structures to a model 'Apply model' picks up."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("napari")

from temnn import Parameters  # noqa: E402
from temnn.napari._apply_model import ApplyModelWidget  # noqa: E402
from temnn.napari._simulate import ParametersForm, SimulateTrainWidget  # noqa: E402


def test_form_round_trips_a_parameters_file_and_names_bad_fields(make_napari_viewer, notifications, tmp_path):
    parameters = Parameters(label="Mask", image_size=(64, 48), sampling=(0.1, 0.12), num_classes=2,
                            multifocus=(3, 20.0, 5.0), readout=None)
    form = ParametersForm(parameters)
    assert form.parameters == parameters
    assert json.loads(form.fields["sampling"].value) == [0.1, 0.12]
    assert "Å/pixel" in form.fields["sampling"].tooltip
    viewer = make_napari_viewer()
    widget = SimulateTrainWidget(viewer)
    assert widget.form.parameters.label == "Disk"  # MoS2 columns
    widget.generator.value = "particle"
    assert widget.form.parameters.label == "Mask"
    widget.form.fields["sampling"].value = "[0.2, 0.1]"
    widget.form.fields["defocus"].value = "-100 to 50"
    widget.folder.value = tmp_path
    widget.run_button.native.click()
    severity, message = notifications()[-1]
    assert severity == "error" and "'defocus'" in message and "JSON" in message
    widget.form.fields["defocus"].value = "[-100, 50]"
    widget.run_button.native.click()
    severity, message = notifications()[-1]
    assert severity == "error" and "'sampling' is a reversed range" in message
    assert not widget.busy and not any(tmp_path.iterdir())
    widget.form.set(parameters)
    widget.parameters_file.value = tmp_path / "p.json"
    widget.save_button.native.click()
    assert Parameters.load(tmp_path / "p.json") == parameters


def test_tiny_run_trains_a_model_that_apply_model_picks_up(make_napari_viewer, qtbot, tmp_path):
    from temnn import load_model

    viewer = make_napari_viewer()
    apply = ApplyModelWidget(viewer)
    widget = SimulateTrainWidget(viewer)
    widget.form.set(Parameters(label="Disk", image_size=(24, 24), sampling=(0.25, 0.25), num_classes=4,
                               image_epochs=1, normalizedistance=2.0))
    widget.train_samples.value, widget.validation_samples.value = 2, 1
    widget.cell.value = 8.0
    widget.hyperparameters.value = '{"layers": 2, "kernel": 3}'
    widget.epochs.value, widget.batch_size.value = 2, 2
    widget.folder.value = tmp_path
    widget.run_button.native.click()
    qtbot.waitUntil(lambda: not widget.busy, timeout=120000)
    assert widget.status.value.startswith("model ready"), widget.status.value
    assert [row["epoch"] for row in widget.history] == [1, 2]
    (ax,) = widget.figure.axes
    assert [line.get_label() for line in ax.lines] == ["training", "validation"]
    assert list(ax.lines[1].get_ydata()) == [row["val_loss"] for row in widget.history]
    model = load_model(widget.model)
    assert (model.in_channels, model.out_channels, model.task.label) == (1, 4, "Disk")
    assert str(apply.model_path.value) == f"{widget.model}.json"
    assert len(list((tmp_path / "mos2-train" / "waves").glob("*.npz"))) == 2
