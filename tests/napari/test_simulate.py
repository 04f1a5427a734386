"""'Simulate and train': the parameters form, and a tiny run from structures to a model 'Apply model' picks up."""

from __future__ import annotations

import pytest

pytest.importorskip("napari")

from temnn import Parameters  # noqa: E402
from temnn.napari._apply_model import ApplyModelWidget  # noqa: E402
from temnn.napari._simulate import ParametersForm, SimulateTrainWidget  # noqa: E402


def test_form_round_trips_a_parameters_file_and_names_bad_fields(make_napari_viewer, notifications, tmp_path):
    parameters = Parameters(label="Mask", image_size=(64, 48), sampling=(0.1, 0.12), num_classes=2,
                            multifocus=(3, 20.0, 5.0), readout=None)
    form = ParametersForm(parameters)
    assert form.parameters == parameters  # 2π angles and 1.5e5 Å Cs survive the spin boxes exactly
    assert [box.value for box in form.fields["sampling"].parts] == [0.1, 0.12]
    assert "Å/pixel" in form.fields["sampling"].tooltip and form.fields["sampling"].label == "sampling [Å/pixel]"
    viewer = make_napari_viewer()
    widget = SimulateTrainWidget(viewer)
    assert widget.form.parameters.label == "Disk"  # MoS2 columns
    widget.generator.value = "particle"
    assert widget.form.parameters.label == "Mask"
    low, high = widget.form.fields["sampling"].parts
    low.value, high.value = 0.2, 0.1
    widget.folder.value = tmp_path
    widget.run_button.native.click()
    severity, message = notifications()[-1]
    assert severity == "error" and "'sampling' is a reversed range" in message
    assert not widget.busy and not any(tmp_path.iterdir())
    widget.form.set(parameters)
    widget.parameters_file.value = tmp_path / "p.json"
    widget.save_button.native.click()
    assert Parameters.load(tmp_path / "p.json") == parameters


def test_form_has_a_typed_widget_with_its_unit_for_every_field(make_napari_viewer):
    from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, SpinBox

    from temnn.parameters import FIELD_UNITS

    form = ParametersForm(Parameters(label="Disk", image_size=(32, 32), sampling=(0.1, 0.11)))
    assert set(form.fields) == set(FIELD_UNITS)
    kinds = {name: [type(w).__name__ for w in field] for name, field in form.fields.items()}
    assert kinds["label"] == ["ComboBox"] and form.fields["label"].parts[0].choices == ("Mask", "Disk", "Gaussian",
                                                                                        "Exitwave")
    assert kinds["mtf"] == ["ComboBox"] and kinds["noise"] == ["ComboBox"]
    assert kinds["defocus"] == ["FloatSpinBox", "FloatSpinBox"] and form.fields["defocus"].label == "defocus [Å]"
    assert kinds["image_size"] == ["SpinBox", "SpinBox"]
    assert kinds["readout"] == ["CheckBox", "FloatSpinBox", "FloatSpinBox"]
    assert kinds["aperture"] == ["CheckBox", "FloatSpinBox"] and form.fields["aperture"].label == "aperture [mrad]"
    assert kinds["multifocus"] == ["CheckBox", "SpinBox", "FloatSpinBox", "FloatSpinBox"]
    assert kinds["null_class"] == ["CheckBox"] and kinds["seed"] == ["SpinBox"]
    assert all(isinstance(w, (CheckBox, ComboBox, FloatSpinBox, SpinBox)) for f in form.fields.values() for w in f)

    # "none" switches an optional field off and its values back on; choices read back as in the file.
    readout = form.fields["readout"]
    assert form.parameters.readout == (0.005, 0.015) and readout.parts[0].enabled
    readout.none.value = True
    assert form.parameters.readout is None and not readout.parts[0].enabled
    readout.none.value = False
    readout.parts[1].value = 0.02
    assert form.parameters.readout == (0.005, 0.02)
    form.fields["mtf"].parts[0].value = "none"
    assert form.parameters.mtf is None
    form.fields["multifocus"].none.value = False
    assert form.parameters.multifocus == (3, 50.0, 1.0)


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
