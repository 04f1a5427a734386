"""`temnn structures` from the command line: files written, previews, clear errors."""

import numpy as np
import pytest
from ase.build import mx2

from temnn.cli import main
from temnn.io.dataset import Dataset

TINY = ["--sampling", "0.2", "--quiet"]


def test_mos2_writes_dataset_and_preview(tmp_path, capsys):
    out = tmp_path / "mos2"
    rc = main(["structures", "mos2", str(out), "2", "--cell", "16", "--seed", "3", "--preview", "2", *TINY])
    assert rc == 0
    ds = Dataset(out)
    assert ds.indices() == [0, 1]
    sites, classes, names = ds.load_sites(1)
    assert names == ("1Mo", "2S", "1S")
    wave = ds.load_wave(0)
    assert wave.energy == 50e3 and max(wave.sampling) <= 0.2
    assert (out / "preview.png").stat().st_size > 10_000
    assert ds.manifest()["generator"]["arguments"]["cell"] == [16.0, 16.0]


def test_flake_from_unit_cell_file(tmp_path):
    cell_file = tmp_path / "ws2.traj"
    mx2("WS2", a=3.18).write(cell_file)
    out = tmp_path / "flake"
    assert main(["structures", "flake", str(out), str(cell_file), "1", "--cell", "16", *TINY]) == 0
    _, _, names = Dataset(out).load_sites(0)
    assert any("W" in n for n in names)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["mos2", "OUT", "1", "--vacancies", "0.1", "0.2", "0.3"], ["--vacancies", "LOW HIGH"]),
        (["mos2", "OUT", "-1"], ["non-negative"]),
        (["mos2", "OUT", "1", "--vacancies", "0.7"], ["vacancies"]),
        (["flake", "OUT", "missing-cell.cif", "1"], ["missing-cell.cif"]),
        (["mos2", "OUT", "1", "--sampling", "-0.1"], ["sampling", "Å/pixel"]),
    ],
)
def test_bad_values_give_one_clear_message(tmp_path, capsys, argv, words):
    argv = [a.replace("OUT", str(tmp_path / "o")) for a in argv]
    rc = main(["structures", *argv, "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("temnn structures: error:")
    assert "Traceback" not in err
    for w in words:
        assert w in err


def test_help_explains_units(capsys):
    with pytest.raises(SystemExit):
        main(["structures", "mos2", "--help"])
    text = capsys.readouterr().out
    assert "[Å/pixel]" in text and "[eV]" in text and "[degrees]" in text


def test_frozen_phonons_from_amplitudes_file(tmp_path):
    from temnn.io.vibrations import write_amplitudes
    from temnn.structures.vibrations import VibrationalAmplitudes

    amplitudes = tmp_path / "amp.json"
    write_amplitudes(amplitudes, VibrationalAmplitudes.isotropic({"Mo": 0.05, "S": 0.07}))
    common = ["structures", "mos2", "", "1", "--cell", "12", "--seed", "2", *TINY]
    static, phonons = tmp_path / "static", tmp_path / "fp"
    assert main([a or str(static) for a in common]) == 0
    argv = [a or str(phonons) for a in common] + ["--frozen-phonons", "2", "--amplitudes", str(amplitudes)]
    assert main(argv) == 0
    a, stored = Dataset(static).load_wave(0).array, Dataset(phonons).load_wave(0)
    # same structure, one wave per displaced configuration: they differ but vacuum stays 1
    assert stored.array.shape == (2,) + a.shape
    b = stored.coherent().array
    assert np.abs(a - b).max() > 1e-3 and np.abs(stored.array[0] - stored.array[1]).max() > 1e-3
    assert abs(b[0, 0] - 1) < 1e-2
    assert "FrozenPhonons" in Dataset(phonons).manifest()["wave_function"]


def test_frozen_phonons_needs_amplitudes(tmp_path, capsys):
    assert main(["structures", "mos2", str(tmp_path / "o"), "1", "--frozen-phonons", "3", "--quiet"]) == 2
    assert "--amplitudes FILE" in capsys.readouterr().err


def test_slice_tolerance_chooses_and_records_the_slice_thickness(tmp_path, capsys):
    # Any difference passes a tolerance of 10: the thickest candidate (2 Å) is chosen from the first
    # system, used for every wave and recorded with the evidence in the manifest.
    out = tmp_path / "o"
    assert main(["structures", "mos2", str(out), "1", "--cell", "12", "--slice-tolerance", "10",
                 "--sampling", "0.2"]) == 0
    assert "slice thickness 2 Å" in capsys.readouterr().out
    manifest = Dataset(out).manifest()
    assert manifest["wave_settings"]["slice_thickness"] == 2.0
    accuracy = manifest["wave_accuracy"]
    assert accuracy["slice_thickness"] == 2.0 and accuracy["reference_slice_thickness"] == 0.2
    assert accuracy["calibration_sample"] == 0 and accuracy["max_abs_difference"][0][0] == 2.0
    assert main(["structures", "mos2", str(tmp_path / "b"), "1", "--slice-band", "2", *TINY]) == 2
    assert "--slice-band needs --slice-tolerance" in capsys.readouterr().err


def test_image_slice_criterion_chooses_and_records_the_slicing(tmp_path, capsys):
    # The image criterion at the least damped conditions of a parameters file: the chosen slicing and
    # wave sampling are the ones the waves were computed with, and the record reads back.
    from temnn.parameters import Parameters
    from temnn.simulate.draw import MicroscopeParameters, least_damped_microscopes
    from temnn.simulate.waves import WaveSettings

    params = tmp_path / "parameters.json"
    Parameters(label="Disk", image_size=(64, 64), sampling=(0.25, 0.3)).save(params)
    out = tmp_path / "o"
    assert main(["structures", "mos2", str(out), "1", "--cell", "12", "--sampling", "0.2", "--slice-criterion",
                 "image", "--slice-parameters", str(params), "--slice-dose", "1000", "--slice-samplings", "0.25"]) == 0
    printed = capsys.readouterr().out
    manifest = Dataset(out).manifest()
    accuracy = manifest["wave_accuracy"]
    settings = WaveSettings.from_dict(manifest["wave_settings"])
    assert f"slice thickness {accuracy['slice_thickness']:g} Å (max |ΔI|/σ at 1000" in printed
    assert accuracy["criterion"] == "image" and accuracy["dose"] == 1000.0 and accuracy["tolerance"] == 1.0
    ratios = dict(map(tuple, accuracy["max_noise_ratio"]))
    assert settings.slice_thickness == accuracy["slice_thickness"]
    assert all(r >= 1 for t, r in ratios.items() if t != settings.slice_thickness)
    assert settings.slice_thickness == 0.2 or ratios[settings.slice_thickness] < 1
    [(tried, ratio)] = accuracy["max_noise_ratio_by_sampling"]
    assert tried == 0.25 and settings.sampling == accuracy["sampling"] == (0.25 if ratio < 1 else 0.2)
    expected = least_damped_microscopes(Parameters.load(params), energy=50e3)
    assert tuple(MicroscopeParameters.from_dict(m) for m in accuracy["microscopes"]) == expected
    assert [m.sampling for m in expected] == [0.25, 0.3] and expected[0].defocus == (-150.0, -50.0, 50.0)
    # Least damped: focal spread and blur at the low end of the defaults' ranges, Cs mid-range.
    assert (expected[1].focal_spread, expected[1].blur, expected[1].C30, expected[1].dose) == (5.0, 0.05, 0.0, None)


def test_image_slice_criterion_options_are_checked(tmp_path, capsys):
    assert main(["structures", "mos2", str(tmp_path / "a"), "1", "--slice-dose", "100", *TINY]) == 2
    assert "need --slice-criterion image" in capsys.readouterr().err
    assert main(["structures", "mos2", str(tmp_path / "b"), "1", "--slice-criterion", "image", *TINY]) == 2
    assert "--slice-parameters FILE" in capsys.readouterr().err
    missing = tmp_path / "none.json"
    assert main(["structures", "mos2", str(tmp_path / "c"), "1", "--slice-criterion", "image",
                 "--slice-parameters", str(missing), *TINY]) == 2
    assert "none.json" in capsys.readouterr().err
