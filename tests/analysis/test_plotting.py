"""Scale bars and side-by-side panels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from temnn.analysis.plotting import (add_scale_bar, axis_label, nice_length, plot_side_by_side,  # noqa: E402
                                     show_image)
from temnn.errors import TemnnError  # noqa: E402


def test_nice_length():
    assert [nice_length(v) for v in (0.37, 1.0, 2.6, 7.9, 130.0)] == pytest.approx([0.2, 1.0, 2.0, 5.0, 100.0])
    with pytest.raises(TemnnError):
        nice_length(0)


def test_scale_bar_length_in_pixels():
    _, ax = plt.subplots()
    show_image(ax, np.zeros((500, 300)))
    bar = add_scale_bar(ax, 0.1, length=2.0, unit="nm")  # 2 nm = 20 Å = 200 px at 0.1 Å/px
    assert bar.size_bar.get_children()[0].get_width() == pytest.approx(200)
    auto = add_scale_bar(ax, 0.1, unit="Å")  # width 50 Å: a fifth is 10 Å
    assert auto.size_bar.get_children()[0].get_width() == pytest.approx(100)
    assert auto.txt_label.get_text() == "10 Å"
    with pytest.raises(TemnnError, match="unit"):
        add_scale_bar(ax, 0.1, unit="pm")


def test_image_drawn_with_x_to_the_right():
    _, ax = plt.subplots()
    image = np.zeros((40, 20))
    image[30, 5] = 1
    artist = show_image(ax, image)
    drawn = artist.get_array()
    assert drawn.shape == (20, 40) and drawn[5, 30] == 1  # row = y, column = x, origin lower


def test_side_by_side(tmp_path):
    label = np.zeros((3, 16, 16))
    label[2] = 1
    fig, axes = plot_side_by_side(np.zeros((3, 16, 16)), label, label * 0.9, sampling=0.1, path=tmp_path / "p.png")
    assert [ax.get_title() for ax in axes] == ["image", "label", "prediction"]
    assert (tmp_path / "p.png").stat().st_size > 0
    _, only = plot_side_by_side(np.zeros((16, 16)))
    assert len(only) == 1


def test_axis_label():
    assert axis_label("area_nm2") == "area [nm²]"
    assert axis_label("spacing_angstrom") == "spacing [Å]"
    assert axis_label("eccentricity") == "eccentricity"
