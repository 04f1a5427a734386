"""One axis convention at every boundary (docs/physics.md, "Axis order"; docs/design.md, "Axis convention").

temnn arrays index (x, y): ``image[ix, iy]``. Files and viewers store rows first, (y, x). An
asymmetric image — one bright pixel at row 3, column 10 of a 16 × 32 (rows × columns) image —
goes through the file writers, the readers, scikit-image, find_peaks and napari, and must come
out at the same place with the same axis order and scale everywhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from skimage.feature import peak_local_max

from temnn.analysis.instances import Slice
from temnn.analysis.peaks import find_peaks
from temnn.io.microscope import read_microscope_file
from temnn.io.stacks import open_stack, write_prediction, write_stack

ROWS, COLUMNS = 16, 32  # the image as a file or a viewer holds it: 16 rows (y) of 32 columns (x)
ROW, COLUMN = 3, 10  # the bright pixel
SAMPLING = 0.2  # [Å/pixel]
NM = SAMPLING / 10  # [nm/pixel], the layers' scale


@pytest.fixture
def image():
    """The temnn array (nx, ny) = (32, 16) with the bright pixel at ix = column 10, iy = row 3."""
    out = np.zeros((COLUMNS, ROWS), np.float32)
    out[COLUMN, ROW] = 1.0
    return out


def test_files_hold_rows_first_and_read_back_as_x_y(image, tmp_path):
    stack = tmp_path / "stack.tif"
    write_stack(stack, iter([image]), shape=(1, COLUMNS, ROWS), dtype=np.float32, pixel=NM, unit="nm",
                frame_interval=None, name="image")
    write_prediction(tmp_path / "prediction", image[None], SAMPLING, ("tif", "npz"), frame=0, title="axes")
    # An independent reader (tifffile) sees rows first: the pixel at row 3, column 10.
    for path in (stack, tmp_path / "prediction.tif"):
        page = np.squeeze(tifffile.imread(path))
        assert page.shape == (ROWS, COLUMNS)
        assert np.argwhere(page).tolist() == [[ROW, COLUMN]]
        # scikit-image works on the file's (row, column) array in the same order.
        assert peak_local_max(page, min_distance=1, exclude_border=False).tolist() == [[ROW, COLUMN]]
    # temnn's readers give temnn arrays (x, y) back, with the calibration.
    opened = open_stack(stack, "IMAGES")
    np.testing.assert_array_equal(opened.frame(0), image)
    assert opened.sampling == pytest.approx(SAMPLING)
    file = read_microscope_file(tmp_path / "prediction.tif")
    np.testing.assert_array_equal(file.frame(0), image)
    assert file.shape == (COLUMNS, ROWS) and file.sampling == pytest.approx(SAMPLING)
    with np.load(tmp_path / "prediction.npz") as npz:  # .npz files hold temnn arrays as they are
        np.testing.assert_array_equal(npz["prediction"][0], image)


def test_find_peaks_and_regionprops_give_x_y(image):
    peaks = find_peaks(image, sampling=SAMPLING, min_spacing=1.0)
    assert peaks.positions.tolist() == [[COLUMN, ROW]]  # (ix, iy)
    np.testing.assert_allclose(peaks.angstrom(SAMPLING), [[COLUMN * SAMPLING, ROW * SAMPLING]])
    (particle,) = Slice.from_labels((image > 0).astype(np.int32), SAMPLING)  # skimage.measure.regionprops
    assert particle.centre_of_mass == pytest.approx((COLUMN, ROW))
    assert (particle.properties["com_x_nm"], particle.properties["com_y_nm"]) == pytest.approx(
        (COLUMN * NM, ROW * NM))


def test_napari_layers_are_rows_first_with_the_same_scale(image, tmp_path, make_napari_viewer, run_widget):
    from temnn.napari._atoms import FindAtomsWidget
    from temnn.napari._layers import LayerFrames, to_layer
    from temnn.napari._reader import microscope_layer

    write_prediction(tmp_path / "prediction", image[None], SAMPLING, ("tif",), frame=0, title="axes")
    data, keywords, kind = microscope_layer(read_microscope_file(tmp_path / "prediction.tif"))
    assert kind == "image" and np.asarray(data).shape == (ROWS, COLUMNS)
    assert np.argwhere(np.asarray(data)).tolist() == [[ROW, COLUMN]]
    assert keywords["axis_labels"] == ["y", "x"] and keywords["scale"] == pytest.approx([NM, NM])
    np.testing.assert_array_equal(to_layer(image), data)

    viewer = make_napari_viewer()
    layer = viewer.add_image(data, **keywords)
    assert np.round(layer.world_to_data((ROW * NM, COLUMN * NM))).tolist() == [ROW, COLUMN]
    np.testing.assert_array_equal(LayerFrames.of(layer).frame(0), image)  # back to temnn's (x, y)

    widget = FindAtomsWidget(viewer)
    widget.source.value = layer
    widget.min_distance.value = 1.0  # [Å]
    run_widget(widget)
    points = viewer.layers[f"{layer.name} atoms"]
    assert points.data.tolist() == [[ROW, COLUMN]]  # the points sit on the pixel, rows first
    np.testing.assert_allclose(points.scale, layer.scale)
    assert tuple(points.axis_labels) == tuple(layer.axis_labels) == ("y", "x")
