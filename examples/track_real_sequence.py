"""Track the nanoparticles of a real STEM sequence: segmentation → ``temnn track`` → plots.

The sequence is ``03_Scanning_Preview.emi`` (+ ``_1.ser``): five 128 × 128 frames of a TIA
STEM preview of nanoparticles, some of them touching, from RosettaSciIO's test data (not made
by temnn; see ``../shared/data/real-em/SOURCES.md``). No network has been trained on such
images, so an Otsu threshold of each Gaussian-smoothed frame stands in for the probability map
that ``temnn predict`` would write; everything after it is what a user runs on predictions.

Run from the repository root::

    python examples/track_real_sequence.py [FILE.emi] [--out DIR] [--docs-images]

``--docs-images`` also copies the figures to ``docs/images/``.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu

from temnn.io.files import save_npz
from temnn.io.microscope import read_microscope_file
from temnn.cli import main as temnn

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_FILE = REPOSITORY.parent / "shared" / "data" / "real-em" / "03_Scanning_Preview.emi"
MIN_SEPARATION = 3.0  # [nm]: the smallest particles are ~4 nm across; also drops specks under 9 nm²
SMOOTHING = 1.0  # [pixels]: Gaussian σ before the threshold, against the scan noise


def segment(frame: np.ndarray) -> np.ndarray:
    """A binary particle mask: Otsu's threshold of the smoothed frame (stands in for a network)."""
    smooth = ndi.gaussian_filter(frame.astype(np.float64), SMOOTHING)
    return smooth > threshold_otsu(smooth)


def plot_outlines(frames: list[np.ndarray], labels: list[np.ndarray], sampling: float, path: Path) -> None:
    """The STEM frames with each tracked particle's outline and id, coloured by id."""
    import matplotlib.pyplot as plt
    from matplotlib.patheffects import withStroke

    from temnn.analysis.plotting import save_figure, show_image
    from temnn.analysis.track_plots import id_colour

    fig, axes = plt.subplots(1, len(frames), figsize=(3.3 * len(frames), 3.6), squeeze=False)
    for t, (ax, frame, label) in enumerate(zip(axes[0], frames, labels)):
        show_image(ax, frame, sampling=sampling, title=f"frame {t}")
        for track_id in np.unique(label[label > 0]):
            mine = label == track_id
            colour = id_colour(track_id)  # as in area.png
            ax.contour(mine.T, levels=[0.5], colors=[colour], linewidths=1.0)
            ix, iy = np.nonzero(mine)
            ax.text(ix.mean(), iy.mean(), str(track_id), color="white", fontsize=7, ha="center", va="center",
                    path_effects=[withStroke(linewidth=2, foreground=colour)])
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(DEFAULT_FILE), help="a TIA .emi (or any temnn-readable) stack")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "temnn-track-real-sequence"),
                        help="output folder")
    parser.add_argument("--docs-images", action="store_true", help="copy the figures to docs/images/")
    args = parser.parse_args(argv)
    path, out = Path(args.file), Path(args.out)
    if not path.is_file():
        print(f"track_real_sequence: {path} not found. Put the real-EM test files in ../shared/data/real-em "
              "beside the repository (see its SOURCES.md) or give a file: "
              "python examples/track_real_sequence.py FILE.emi", file=sys.stderr)
        return 2

    data = read_microscope_file(path)  # frames in (x, y) order, pixel size in Å from the file
    if data.sampling is None:
        print(f"track_real_sequence: {path} has no pixel-size calibration", file=sys.stderr)
        return 2
    frames = [data.frame(t) for t in range(len(data))]
    print(f"{path.name}: {len(frames)} frames of {data.shape[0]} × {data.shape[1]} pixels, "
          f"{data.sampling / 10:.4f} nm/pixel")

    # The stand-in for `temnn predict`: one mask per frame, with the calibration beside it.
    out.mkdir(parents=True, exist_ok=True)
    save_npz(out / "mask.npz", mask=np.stack([segment(f) for f in frames]).astype(np.uint8),
             sampling=np.float64(data.sampling))
    code = temnn(["track", str(out / "mask.npz"), "--min-separation", str(MIN_SEPARATION), "--out",
                  str(out / "track"), "--quiet"])
    if code:
        return code

    pages = tifffile.imread(out / "track" / "labels.tif")  # the tracked ids, one (y, x) page per frame
    tracked = list(np.swapaxes(pages.reshape(-1, *pages.shape[-2:]), 1, 2))
    plot_outlines(frames, tracked, data.sampling, out / "track" / "outlines.png")

    with open(out / "track" / "properties.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    ids = sorted({int(r["id"]) for r in rows})
    print(f"{len(ids)} particle ids; per frame: " +
          ", ".join(str(sorted(int(r["id"]) for r in rows if int(r["frame"]) == t)) for t in range(len(frames))))
    print("id   frames  area [nm²] (mean ± std over frames)  equivalent diameter [nm]")
    for i in ids:
        mine = [r for r in rows if int(r["id"]) == i]
        area = np.array([float(r["area_nm2"]) for r in mine])
        diameter = np.mean([float(r["equivalent_diameter_nm"]) for r in mine])
        print(f"{i:>3}  {len(mine):>6}  {area.mean():8.1f} ± {area.std():5.1f}  {diameter:20.1f}")
    print(f"figures: {out / 'track'}")
    if args.docs_images:
        docs = REPOSITORY / "docs" / "images"
        docs.mkdir(parents=True, exist_ok=True)
        for name in ("outlines.png", "area.png"):
            shutil.copyfile(out / "track" / name, docs / f"track_real_sequence_{name}")
        print(f"copied to {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
