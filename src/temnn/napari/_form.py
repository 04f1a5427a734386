"""The parameters file as a typed form: one widget per field, built from the field table.

Each field of :class:`temnn.Parameters` gets the widget its expected form in
:data:`temnn.parameters.FIELD_UNITS` calls for: a drop-down for a choice (label, noise,
MTF model), two spin boxes for a ``(low, high)`` range, a check box for true/false,
a spin box for a number, and a "none" check box in front of an optional value (aperture,
focal series, readout). The unit is in the field's label, the full description in its
tooltip. Values are read back exactly as set unless the user edits them (a spin box
shows a few decimals; 2π stays 2π).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox

from ..parameters import FIELD_UNITS, LABELS, Parameters

__all__ = ["ParametersForm", "FieldWidget", "field_unit"]

_DECIMALS = 4
_LIMIT = 1e9
_CHOICES = {"label": LABELS, "noise": ("poisson", "none"), "mtf": ("parametric", "none")}
# What an optional field shows while "none" is ticked (it is not part of the parameters then).
_PLACEHOLDER = {"aperture": 20.0, "multifocus": (3, 50.0, 1.0), "readout": (0.005, 0.015)}


def field_unit(name: str) -> str:
    """The unit of a parameters-file field, from its entry in ``FIELD_UNITS`` ("" for none).

    Examples
    --------
    >>> field_unit("sampling"), field_unit("angular_spread"), field_unit("seed")
    ('Å/pixel', 'mrad', '')
    """
    text = FIELD_UNITS[name]
    if name == "multifocus":
        return "images, Å, Å"
    if "log10(dose" in text:
        return "log10 e⁻/Å²"
    if "fraction of Nyquist" in text:
        return "fraction of Nyquist"
    match = re.search(r"\bin (Å/pixel|Å|mrad|radians|electrons per pixel|pixels)(?=[\s)]|$)", text)
    return match.group(1) if match else ""


def _kind(name: str, default: Any) -> str:
    text = FIELD_UNITS[name]
    if name in _CHOICES:
        return "choice"
    if name == "image_size":
        return "size"
    if name == "multifocus":
        return "series"
    if "(low, high) pair" in text:
        return "range"
    if text == "true or false":
        return "bool"
    if "integer" in text:
        return "int"
    return "float"


class FieldWidget(Container):
    """The widget of one parameters-file field; :attr:`field_value` is its value as in the file.

    Parameters
    ----------
    name : str
        Field name (a key of ``FIELD_UNITS``).
    default : Any
        The field's default in :class:`temnn.Parameters` (sets the widget type).
    """

    def __init__(self, name: str, default: Any) -> None:
        self.field_name = name
        self.kind = _kind(name, default)
        unit = field_unit(name)
        self.optional = FIELD_UNITS[name].startswith("null or")
        self.none = CheckBox(text="none", value=False, tooltip=f"{name}: null (switched off)")
        parts: list[Any]
        if self.kind == "choice":
            parts = [ComboBox(choices=list(_CHOICES[name]))]
        elif self.kind == "bool":
            parts = [CheckBox(text="")]
        elif self.kind == "size":
            parts = [SpinBox(min=1, max=100000, tooltip=f"{name}: rows [pixels]"),
                     SpinBox(min=1, max=100000, tooltip=f"{name}: columns [pixels]")]
        elif self.kind == "int":
            parts = [SpinBox(min=-1 if name == "debug" else 0, max=2**31 - 1)]
        elif self.kind == "series":
            parts = [SpinBox(min=1, max=1000, tooltip="images in the focal series"),
                     self._float("defocus step [Å]"), self._float("step jitter [Å]")]
        elif self.kind == "range":
            parts = [self._float(f"{name}: low"), self._float(f"{name}: high")]
        else:
            parts = [self._float(name)]
        self.parts = parts
        self._exact: list[Any] = [None] * len(parts)  # the values last set, kept while unedited
        widgets = ([self.none] if self.optional else []) + parts
        label = f"{name} [{unit}]" if unit else name
        super().__init__(widgets=widgets, layout="horizontal", labels=False, label=label,
                         tooltip=FIELD_UNITS[name])
        self.margins = (0, 0, 0, 0)
        if self.optional:
            self.none.changed.connect(self._on_none)

    @staticmethod
    def _float(tooltip: str) -> FloatSpinBox:
        box = FloatSpinBox(min=-_LIMIT, max=_LIMIT, step=10.0**-_DECIMALS, tooltip=tooltip)
        box.step = 0.01
        return box

    def _on_none(self, none: bool) -> None:
        for part in self.parts:
            part.enabled = not none

    @property
    def field_value(self) -> Any:
        """The field's value as a parameters file holds it (lists for pairs, None for null)."""
        if self.optional and self.none.value:
            return None
        if self.kind == "choice":
            value = self.parts[0].value
            return None if value == "none" else value
        values = []
        for part, exact in zip(self.parts, self._exact):
            value = part.value
            if isinstance(part, FloatSpinBox) and exact is not None and value == round(exact, _DECIMALS):
                value = exact
            values.append(value)
        return values[0] if len(values) == 1 else values

    @field_value.setter
    def field_value(self, value: Any) -> None:
        if self.optional:
            self.none.value = value is None
            if value is None:
                value = _PLACEHOLDER[self.field_name]
        if self.kind == "choice":
            self.parts[0].value = "none" if value is None else value
            return
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        for i, (part, v) in enumerate(zip(self.parts, values)):
            part.value = v
            self._exact[i] = float(v) if isinstance(part, FloatSpinBox) else None
        self._on_none(bool(self.optional and self.none.value))


class ParametersForm(Container):
    """A form with one typed widget per field of :class:`temnn.Parameters` (see the module notes).

    :attr:`parameters` validates the whole form at once and lists every problem.

    Parameters
    ----------
    parameters : temnn.Parameters
        The parameters file shown first.
    """

    def __init__(self, parameters: Parameters) -> None:
        defaults = {f.name: f.default for f in dataclasses.fields(Parameters) if f.name != "source"}
        self.fields = {name: FieldWidget(name, default) for name, default in defaults.items()}
        super().__init__(widgets=list(self.fields.values()), labels=True, scrollable=True)
        self.set(parameters)

    def set(self, parameters: Parameters) -> None:
        """Show a parameters file in the form."""
        for name, value in parameters.to_dict().items():
            self.fields[name].field_value = value

    @property
    def parameters(self) -> Parameters:
        """The form's parameters file, validated.

        Raises
        ------
        TemnnError
            Values :class:`temnn.Parameters` refuses, each named with its expected form.
        """
        data = {name: field.field_value for name, field in self.fields.items()}
        return Parameters.from_dict(data, source="parameters form")
