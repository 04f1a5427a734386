"""One axis convention at every file boundary: temnn arrays index (x, y), files store rows (y) first.

An asymmetric frame (nx ≠ ny) with one bright pixel at (ix, iy) = (1, 0) goes out through each
writer and back through each reader; the pixel must come back at (1, 0), and scikit-image, which
takes the first array axis as its first coordinate, must find it there too. The TIFF pages
themselves are checked with tifffile: row 0 (y = 0), column 1 (x = 1).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from skimage.measure import regionprops

from temnn.io.microscope import read_microscope_file
from temnn.io.stacks import open_stack, write_prediction, write_stack

NX, NY = 5, 3
SAMPLING = 0.5  # [Å/pixel]


def marked() -> np.ndarray:
    frame = np.zeros((NX, NY), np.float32)
    frame[1, 0] = 1.0  # ix = 1, iy = 0
    return frame


def test_scikit_image_reads_temnn_arrays_as_x_then_y():
    (region,) = regionprops(marked().astype(np.uint8))
    assert region.centroid == (1.0, 0.0)


@pytest.mark.parametrize("suffix", [".tif", ".npz"])
def test_stack_round_trip_keeps_x_and_y(tmp_path, suffix):
    path = tmp_path / f"labels{suffix}"
    write_stack(path, iter([marked(), marked()]), shape=(2, NX, NY), dtype=np.uint16, pixel=SAMPLING / 10,
                unit="nm", frame_interval=None, name="labels")
    stack = open_stack(path, "LABELS")
    assert stack.shape == (2, NX, NY)
    np.testing.assert_array_equal(stack.frame(1), marked())
    if suffix == ".tif":
        page = tifffile.imread(path)[0]
        assert page.shape == (NY, NX) and page[0, 1] == 1  # stored (y, x), as every viewer expects
        assert stack.sampling == pytest.approx(SAMPLING)  # ImageJ unit nm and resolution


def test_prediction_tiff_reads_back_through_the_microscope_reader(tmp_path):
    prediction = np.stack([marked(), 1 - marked()])  # (K, nx, ny)
    write_prediction(tmp_path / "00000", prediction, SAMPLING, ("tif", "npz"), frame=0, title="axes")
    file = read_microscope_file(tmp_path / "00000.tif")
    assert file.sampling == pytest.approx(SAMPLING)
    np.testing.assert_array_equal(file.frame(0), marked())
    with np.load(tmp_path / "00000.npz") as f:
        np.testing.assert_array_equal(f["prediction"], prediction)
