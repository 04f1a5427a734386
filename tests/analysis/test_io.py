"""Reading real microscope files: calibration in Å, (x, y) order, lazy frames, metadata, errors.

The expected values come from the files' raw tags (read here with RosettaSciIO, or from the
raw calibration fields in metres), converted with hand-written unit factors, not from temnn.
"""

from __future__ import annotations

import doctest
import shutil
from pathlib import Path

import numpy as np
import pytest

from temnn import units
from temnn.io.microscope import angstrom_per_unit, read_microscope_file
from temnn.errors import TemnnError

REAL_EM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-em"


@pytest.fixture(scope="session")
def real_em() -> Path:
    """The folder of real microscope files beside the repository (``../shared/data/real-em``)."""
    if not REAL_EM.is_dir():
        pytest.skip(f"real microscope files not found at {REAL_EM}")
    return REAL_EM


def raw_signal(path: Path, index: int = 0) -> dict:
    """The file as RosettaSciIO reads it (eagerly), without temnn."""
    plugin = {".dm3": "digitalmicrograph", ".emd": "emd", ".emi": "tia", ".tif": "tiff"}[path.suffix]
    module = __import__(f"rsciio.{plugin}", fromlist=["file_reader"])
    return module.file_reader(str(path))[index]


# ------------------------------------------------------------------------------ units
@pytest.mark.parametrize(
    ("unit", "angstrom"),
    [("nm", 10.0), ("\u00b5m", 1e4), ("\u03bcm", 1e4), ("um", 1e4), ("micrometer", 1e4), ("pm", 0.01),
     ("\u00c5", 1.0), ("\u212b", 1.0), ("m", 1e10), ("mm", 1e7)],
)
def test_length_units_in_angstrom(unit, angstrom):
    assert angstrom_per_unit(unit) == angstrom


@pytest.mark.parametrize("unit", [None, "", "px", "pixels", "<undefined>"])
def test_pixel_units_mean_uncalibrated(unit):
    assert angstrom_per_unit(unit) is None


@pytest.mark.parametrize("unit", ["1/nm", "1 / nm", "nm^-1", "1/Å"])
def test_reciprocal_units_are_refused(unit):
    with pytest.raises(TemnnError, match="reciprocal"):
        angstrom_per_unit(unit, where="x.dm3: x axis")


def test_unknown_unit_is_refused():
    with pytest.raises(TemnnError, match="unknown length unit 's'.*sampling"):
        angstrom_per_unit("s")


def test_docstring_examples():
    result = doctest.testmod(units)  # the unit table moved out of temnn.io.microscope
    assert result.attempted > 0 and result.failed == 0


# ----------------------------------------------------------------------- calibration
@pytest.mark.realdata
def test_dm3_in_micrometres(real_em):
    path = real_em / "test_dm_image_um_unit.dm3"
    axes = raw_signal(path)["axes"]
    assert axes[1]["units"] == "\u00b5m"  # the file really is calibrated in µm
    data = read_microscope_file(path)
    assert data.sampling == pytest.approx(axes[1]["scale"] * 1e4, rel=1e-12)
    assert data.sampling == pytest.approx(1686.7469, rel=1e-6)  # 0.16867469 µm


@pytest.mark.realdata
def test_dm3_in_nanometres_with_two_signals(real_em):
    path = real_em / "multi_signal.dm3"
    tags = raw_signal(path)["original_metadata"]["ImageList"]["TagGroup0"]["ImageData"]["Calibrations"]
    x = tags["Dimension"]["TagGroup0"]
    assert x["Units"] == "nm"
    data = read_microscope_file(path)
    assert data.sampling == pytest.approx(10 * x["Scale"], rel=1e-6)
    assert (data.signal_index, data.signal_title) == (0, "HAADF")  # the image, not the 1D 'Plot'
    with pytest.raises(TemnnError, match="signal 1 is not an image"):
        read_microscope_file(path, signal=1)
    with pytest.raises(TemnnError, match=r"signal must be an index in \[0, 2\)"):
        read_microscope_file(path, signal=2)


@pytest.mark.realdata
def test_velox_emd_pixel_size_from_its_metadata(real_em):
    path = real_em / "fei_example_tem_stack.emd"
    raw = raw_signal(path)["original_metadata"]["BinaryResult"]
    assert raw["PixelUnitX"] == "m"
    data = read_microscope_file(path)
    assert data.sampling == pytest.approx(float(raw["PixelSize"]["width"]) * 1e10, rel=1e-9)  # 0.0817 Å
    assert data.sampling == pytest.approx(0.081728832, rel=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "metres"), [("03_Scanning_Preview.emi", 3.843524875e-10),
                                              ("64x64x5_TEM_preview.emi", 6.281833616e-09)])
def test_tia_pixel_size_from_the_ser_header(real_em, name, metres):
    path = real_em / name
    header = raw_signal(path)["original_metadata"]["ser_header_parameters"]
    assert header["CalibrationDeltaX"][0] == pytest.approx(metres, rel=1e-9)
    assert read_microscope_file(path).sampling == pytest.approx(header["CalibrationDeltaX"][0] * 1e10, rel=1e-9)


@pytest.mark.realdata
def test_imagej_tiff_stack(real_em):
    path = real_em / "test_loading_image_saved_with_imageJ_stack.tif"
    axes = raw_signal(path)["axes"]
    data = read_microscope_file(path)
    assert len(data) == 2
    assert data.sampling == pytest.approx(axes[2]["scale"] * 1e4, rel=1e-12)


@pytest.mark.realdata
def test_non_square_pixels_need_an_explicit_sampling(real_em):
    # DigitalMicrograph's TIFF export of this stack stores y = 10 × x in its scale tags
    path = real_em / "test_loading_image_saved_with_DM_stack.tif"
    with pytest.raises(TemnnError, match="not square"):
        read_microscope_file(path)
    with pytest.warns(UserWarning, match="calibrated at"):
        data = read_microscope_file(path, sampling=1686.74)
    assert data.sampling == 1686.74
    assert data.acquisition.frame_interval == pytest.approx(2.5)  # the stack axis is in seconds


@pytest.mark.realdata
def test_png_is_uncalibrated(real_em):
    path = real_em / "AtomSegNet_12965.png"
    assert read_microscope_file(path).sampling is None
    assert read_microscope_file(path, sampling=0.12).sampling == 0.12


def test_reciprocal_calibration_is_refused(tmp_path):
    from rsciio.tiff import file_writer

    axes = [{"name": n, "size": 16, "scale": 0.5, "offset": 0.0, "units": "1 / nm", "navigate": False} for n in "yx"]
    file_writer(str(tmp_path / "diffraction.tif"), {"data": np.ones((16, 16), np.float32), "axes": axes, "metadata": {}})
    with pytest.raises(TemnnError, match="diffraction.tif.*reciprocal"):
        read_microscope_file(tmp_path / "diffraction.tif")


def test_mrc_stack_written_by_mrcfile(tmp_path):
    # mrcfile (the CCP-EM reference implementation) writes the file, so the reader is checked
    # against an independent writer: voxel size in Å, frames along z, data[z, y, x] on disk.
    mrcfile = pytest.importorskip("mrcfile")
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    with mrcfile.new(tmp_path / "stack.mrc") as mrc:
        mrc.set_data(data)
        mrc.voxel_size = (0.5, 0.5, 2.0)  # x, y, z [Å]
    stack = read_microscope_file(tmp_path / "stack.mrc")
    assert len(stack) == 3 and stack.shape == (5, 4)
    assert stack.sampling == pytest.approx(0.5)
    for i in range(3):
        np.testing.assert_array_equal(stack.frame(i), data[i].T)


# -------------------------------------------------------------------------- frames
@pytest.mark.realdata
def test_frames_are_x_y_transposed_from_the_file(real_em):
    path = real_em / "test_stackbuilder_imagestack.dm3"  # 3 frames, 16 px wide, 2 px high
    raw = np.asarray(raw_signal(path)["data"])
    data = read_microscope_file(path)
    assert raw.shape == (3, 2, 16)
    assert data.shape == (16, 2) and len(data) == 3
    for i in range(3):
        frame = data.frame(i)
        assert frame.dtype == np.float32 and frame.shape == (16, 2)
        np.testing.assert_array_equal(frame, raw[i].T.astype(np.float32))
    np.testing.assert_array_equal(data.frame(-1), data.frame(2))
    with pytest.raises(TemnnError, match=r"frame must be an integer in \[0, 3\)"):
        data.frame(3)


@pytest.mark.realdata
@pytest.mark.parametrize(("name", "frames"), [("03_Scanning_Preview.emi", 5), ("64x64x5_TEM_preview.emi", 5),
                                              ("fei_example_tem_stack.emd", 2), ("multi_signal.dm3", 1)])
def test_stacks_are_read_lazily_frame_by_frame(real_em, name, frames):
    import dask.array as da

    data = read_microscope_file(real_em / name)
    assert isinstance(data.data, da.Array)  # nothing read yet
    assert len(data) == frames
    raw = np.asarray(raw_signal(real_em / name)["data"]).reshape(frames, *data.shape[::-1])
    for i in range(frames):
        np.testing.assert_array_equal(data.frame(i), raw[i].T.astype(np.float32))


# ------------------------------------------------------------------------- metadata
@pytest.mark.realdata
def test_velox_metadata(real_em):
    path = real_em / "fei_example_tem_stack.emd"
    original = raw_signal(path)["original_metadata"]
    acq = read_microscope_file(path).acquisition
    assert acq.beam_energy == float(original["Optics"]["AccelerationVoltage"]) == 300e3  # [eV]
    assert acq.exposure_time == pytest.approx(float(original["Detectors"]["Detector-0"]["ExposureTime"]))
    assert acq.frame_interval == pytest.approx(0.8)
    assert acq.detector == "BM-Ceta"
    counts_to_electrons = float(original["CustomProperties"]["Detectors[BM-Ceta].CountsToElectrons"]["value"])
    assert acq.conversion_factor == pytest.approx(1 / counts_to_electrons)  # [counts/e⁻]
    assert acq.beam_current == pytest.approx(3.7323125987789039e-09)  # [A]
    assert acq.acquisition_date == "2019-12-05T10:03:44Z"


@pytest.mark.realdata
def test_digitalmicrograph_metadata(real_em):
    data = read_microscope_file(real_em / "test_dm_image_um_unit.dm3")
    tags = data.original_metadata["ImageList"]["TagGroup0"]["ImageTags"]
    acq = data.acquisition
    assert acq.beam_energy == tags["Microscope Info"]["Voltage"] == 200e3
    assert acq.exposure_time == tags["DataBar"]["Exposure Time (s)"] == 0.5
    assert acq.detector == "BM-UltraScan"
    assert acq.acquisition_date == "2015-07-20T18:48:25"
    assert acq.beam_current is None  # DM writes 0 nA when it did not record the current
    assert acq.conversion_factor is None
    # the HyperSpy-style tree has the mapped fields, in HyperSpy's units (keV, s)
    assert data.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 200.0
    assert data.metadata["Acquisition_instrument"]["TEM"]["Camera"]["exposure"] == 0.5


@pytest.mark.realdata
def test_tia_metadata_scanning_and_camera(real_em):
    stem = read_microscope_file(real_em / "03_Scanning_Preview.emi").acquisition
    info = raw_signal(real_em / "03_Scanning_Preview.emi")["original_metadata"]["ObjectInfo"]
    assert stem.beam_energy == info["ExperimentalDescription"]["High tension_kV"] * 1e3 == 200e3
    assert stem.exposure_time == pytest.approx(float(info["AcquireInfo"]["FrameTime"]))  # STEM: frame time
    assert stem.dwell_time == pytest.approx(float(info["AcquireInfo"]["DwellTimePath"]))
    assert stem.acquisition_date == "2019-04-25T09:30:09"
    tem = read_microscope_file(real_em / "64x64x5_TEM_preview.emi").acquisition
    assert (tem.exposure_time, tem.dwell_time, tem.detector) == (0.0625, None, "WA-Orius")


# --------------------------------------------------------------------------- errors
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # imageio's plugin registry, probed for the .png
@pytest.mark.parametrize("suffix", [".dm3", ".dm4", ".tif", ".emd", ".ser", ".mrc", ".png"])
def test_corrupt_files_raise_temnn_error_naming_the_file(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(TemnnError, match=f"broken\\{suffix}: cannot read.*corrupt"):
        read_microscope_file(path)


@pytest.mark.realdata
def test_truncated_dm3_is_reported(real_em, tmp_path):
    path = tmp_path / "truncated.dm3"
    path.write_bytes((real_em / "test_dm_image_um_unit.dm3").read_bytes()[:5000])
    with pytest.raises(TemnnError, match="truncated.dm3"):
        read_microscope_file(path).frame(0)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(TemnnError, match="not found"):
        read_microscope_file(tmp_path / "nothing.dm3")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(TemnnError, match=r"unsupported file type '\.txt'.*\.dm3"):
        read_microscope_file(tmp_path / "notes.txt")


@pytest.mark.realdata
def test_tia_ser_alone_reads_without_the_emi_metadata(real_em, tmp_path):
    ser = tmp_path / "alone_1.ser"
    shutil.copy(real_em / "64x64x5_TEM_preview_1.ser", ser)
    data = read_microscope_file(ser)
    assert len(data) == 5 and data.sampling == pytest.approx(62.81833616)
    assert data.acquisition.beam_energy is None
