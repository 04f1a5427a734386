import dataclasses
import json
import math

import pytest

from temnn import Parameters, TemnnError
from temnn.parameters import THESIS_KEY_MAP

# Listing A.1 of the thesis (one value chosen where the listing shows alternatives).
THESIS_LISTING_A1 = {
    "label": "Disk",
    "image_epochs": 10,
    "image_size": [512, 512],
    "noise": "poisson",
    "num_classes": 4,
    "null_class": True,
    "spotsize": 0.4,
    "sampling": [0.09, 0.11],
    "multifocus": [3, 50.0, 1.0],
    "log_dose": [2, 6],
    "blur": [0.1, 0.8],
    "focal_spread": [5, 20],
    "defocus": [-200, 200],
    "ctf_c30": [0, 1.5 * 83000],
    "ctf_c12": [0, 0],
    "ctf_c21": [0, 0],
    "ctf_c23": [0, 0],
    "ctf_c32": [0, 0],
    "ctf_c34": [0, 0],
    "ctf_c45": [0, 0],
    "mtf": "parametric",
    "mtf_c1": [0.2, 0.6],
    "mtf_c2": [0.0, 0.0],
    "mtf_c3": [2.0, 5.0],
    "readout": [0.005, 0.015],
    "normalizedistance": 12.0,
    "debug": 100,
    "seed": 100,
}


def test_json_round_trip(tmp_path):
    p = Parameters(label="Exitwave", image_size=(64, 96), sampling=(0.1, 0.11), multifocus=(3, 50.0, 1.0))
    path = tmp_path / "p.json"
    p.save(path)
    q = Parameters.load(path)
    assert q == p
    assert q.image_size == (64, 96) and isinstance(q.sampling, tuple)
    assert json.loads(path.read_text())["multifocus"] == [3, 50.0, 1.0]


def test_thesis_keys_map_to_mtf_names(tmp_path):
    path = tmp_path / "thesis.json"
    path.write_text(json.dumps(THESIS_LISTING_A1))
    p = Parameters.load(path)
    # listing A.1 as printed reads as c1 = c0, c2 = C (table 3.2 states the reverse, which
    # would give c0 = 0: a flat MTF at the floor, against publication II's fitted c0 ≈ 0.2-0.3)
    assert p.mtf_c0 == (0.2, 0.6)
    assert p.mtf_floor == (0.0, 0.0)
    assert p.mtf_c3 == (2.0, 5.0)
    assert p.input_channels == 3 and p.output_channels == 4
    assert "mtf_c1" not in p.to_dict()
    assert set(THESIS_KEY_MAP.values()) <= set(p.to_dict())


def test_thesis_listing_a1_gives_a_physical_mtf(tmp_path):
    # Listing A.1 as printed must give an MTF like publication II's fits (fig. A.13: c0 = 0.28,
    # c3 = 2.25, C = 0.01 at high dose): 1 at q = 0, a core of width c0, a floor near 0. The
    # table 3.2 reading (c0 = 0) would give a flat MTF equal to C at every q > 0.
    import numpy as np

    from temnn.simulate.detector import parametric_mtf

    path = tmp_path / "thesis.json"
    path.write_text(json.dumps(THESIS_LISTING_A1))
    p = Parameters.load(path)
    q = np.array([0.0, 0.05, 0.5, 1.0])  # fraction of Nyquist
    for c0, c3, floor in zip(p.mtf_c0, p.mtf_c3, p.mtf_floor):  # both ends of every range
        mtf = parametric_mtf(q, c0, c3, floor)
        assert mtf[0] == 1.0
        assert mtf[1] > 0.9  # well inside the core
        assert np.all(np.diff(mtf) < 0) and mtf[-1] < 0.2
        np.testing.assert_allclose(mtf[2], 1 / (1 + (0.5 / c0) ** c3), rtol=1e-12)


def test_derived_values():
    p = Parameters(label="Exitwave", image_size=(32, 32), sampling=(0.1, 0.1), log_dose=(2, 4))
    assert p.output_channels == 2
    assert p.dose_range == pytest.approx((100.0, 1e4))
    assert p.ctf_phi12 == pytest.approx((0, 2 * math.pi))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"sampling": 0.1}, ["'sampling'", "(low, high) pair in Å/pixel", "0.1"]),
        ({"defocus": [100, -100]}, ["'defocus'", "reversed range"]),
        ({"image_epochs": "ten"}, ["'image_epochs'", "positive integer"]),
        ({"label": "Blob"}, ["'label'", "Mask, Disk, Gaussian, Exitwave"]),
        ({"focal_sprad": [5, 20]}, ["unknown field 'focal_sprad'", "did you mean 'focal_spread'"]),
        ({"noise": "gaussian"}, ["'noise'", "poisson"]),
        ({"multifocus": [3, 150.0, 1.0]}, ["'multifocus'", "spans"]),
        ({"mtf_c0": [-0.1, 0.5]}, ["'mtf_c0'", "≥ 0"]),
        ({"mtf_c3": [0.0, 2.0]}, ["'mtf_c3'", "> 0"]),
    ],
)
def test_bad_field_names_field_and_form(change, words):
    data = {"label": "Disk", "image_size": [64, 64], "sampling": [0.1, 0.11]}
    data.update(change)
    with pytest.raises(TemnnError) as err:
        Parameters.from_dict(data, source="params.json")
    message = str(err.value)
    assert message.startswith("params.json")
    for w in words:
        assert w in message


def test_missing_required_fields_reported_together():
    with pytest.raises(TemnnError) as err:
        Parameters.from_dict({"label": "Mask"}, source="p.json")
    msg = str(err.value)
    assert "2 problems" in msg and "'image_size' is missing" in msg and "'sampling' is missing" in msg


def test_bad_json_names_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"label": "Disk",, }')
    with pytest.raises(TemnnError, match="broken.json: not valid JSON"):
        Parameters.load(path)


def test_thesis_and_new_key_together_is_an_error():
    data = {"label": "Disk", "image_size": [64, 64], "sampling": [0.1, 0.11], "mtf_c2": [0, 0.1], "mtf_floor": [0, 0.1]}
    with pytest.raises(TemnnError, match="'mtf_c2'.*'mtf_floor'"):
        Parameters.from_dict(data)


def test_parameter_ranges_cover_the_aberration_list_once():
    """One ``ctf_<name>`` range per field of temnn.aberrations.Aberrations, and nothing else."""
    from temnn.aberrations import ABERRATION_KEYS

    ranges = [f.name for f in dataclasses.fields(Parameters) if f.name.startswith("ctf_")]
    assert sorted(ranges) == sorted(f"ctf_{key.lower()}" for key in ABERRATION_KEYS)


def test_every_field_has_one_rule_and_one_text():
    """The schema (checker per field) and FIELD_UNITS (its text) cover exactly the dataclass fields."""
    from temnn.parameters import _RULES, FIELD_UNITS

    names = {f.name for f in dataclasses.fields(Parameters)} - {"source"}
    assert set(_RULES) == names == set(FIELD_UNITS)
