"""Fixtures of the napari plugin tests: a sample-data cache per session, one torch thread, helpers.

The tests need the ``gui`` extra (napari, a Qt binding, pytest-qt) and a display: run them
as ``xvfb-run -a python -m pytest tests/napari``. Without napari every test is skipped.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

_NO_DISPLAY = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def pytest_collection_modifyitems(config, items):
    """napari draws with OpenGL through Qt: without a display (``QT_QPA_PLATFORM=offscreen`` has no
    OpenGL) Qt aborts the process, so these tests skip and say how to run them."""
    if not _NO_DISPLAY:
        return
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason="the napari tests need a display: run `xvfb-run -a python -m pytest tests/napari`")
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _sample_cache(tmp_path_factory):
    """Sample data go to a cache of this test session, not the user's."""
    old = os.environ.get("TEMNN_CACHE_DIR")
    os.environ["TEMNN_CACHE_DIR"] = str(tmp_path_factory.mktemp("temnn-cache"))
    yield
    if old is None:
        os.environ.pop("TEMNN_CACHE_DIR", None)
    else:
        os.environ["TEMNN_CACHE_DIR"] = old



@pytest.fixture
def notifications():
    """The notifications dispatched during the test, as (severity name, message) pairs."""
    from napari.utils.notifications import notification_manager

    start = len(notification_manager.records)

    def since() -> list[tuple[str, str]]:
        return [(str(n.severity), str(n.message)) for n in notification_manager.records[start:]]

    return since


@pytest.fixture
def run_widget(qtbot):
    """Press a widget's Run button and wait until its worker has finished (or failed)."""

    def run(widget, timeout: float = 60.0):
        widget.run_button.native.click()
        qtbot.waitUntil(lambda: not widget.busy, timeout=int(timeout * 1000))

    return run


def _discs(shape, centres, radius):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, dtype=bool)
    for r, c in centres:
        out |= np.hypot(rows - r, cols - c) <= radius
    return out


@pytest.fixture
def two_disc_sequence():
    """``make(frames, shape)``: two discs of radius 8 px, the left moving right 2 px per frame, the right down 1 px.

    Returns the (frame, y, x) boolean stack and the (row, column) centres of each frame.
    """

    def make(frames: int = 6, shape=(64, 80)):
        centres = [[(30.0, 18.0 + 2 * t), (20.0 + t, 58.0)] for t in range(frames)]
        return np.stack([_discs(shape, c, 8.0) for c in centres]), centres

    return make


@pytest.fixture
def mixed_units():
    """Requested by a test whose own layers mix units on purpose (an uncalibrated layer beside a
    calibrated one, as a user may open), so :func:`no_inconsistent_units` lets it pass; never by
    a test of what a widget adds."""
    return True


@pytest.fixture(autouse=True)
def no_inconsistent_units(monkeypatch, request):
    """Fail a test whose layers would make napari warn "Inconsistent units across layers".

    napari warns when it draws a viewer whose layers' units, aligned from the last axis,
    differ in dimensionality (a length against a pixel count or a frequency); it finds them
    with ``LayerList._get_units``, which then returns None. Every layer the plugin adds must
    carry units consistent with the layers already there.
    """
    if "mixed_units" in request.fixturenames:
        yield
        return
    from napari.components.layerlist import LayerList

    original = LayerList._get_units
    seen: list[list[tuple[str, ...]]] = []

    def checked(layers_extent):
        units = original(layers_extent)
        if units is None and layers_extent:
            seen.append([tuple(str(u) for u in extent.units) for extent in layers_extent])
        return units

    monkeypatch.setattr(LayerList, "_get_units", staticmethod(checked))
    yield
    assert not seen, f"layers with inconsistent units (napari warns): {seen[0]}"
