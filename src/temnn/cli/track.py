"""``temnn track`` and ``temnn fft-track``: the argparse layer of :mod:`temnn.workflows.track`."""

from __future__ import annotations

import argparse

from ..errors import TemnnError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``track`` and ``fft-track`` subcommands."""
    p = subparsers.add_parser(
        "track",
        help="split a probability/mask stack into particles and track them over time (areas in nm²)",
        description=(
            "Split every frame of STACK (probability maps or masks, T × x × y) into particles by a "
            "watershed on the distance map, and give each particle the id of the previous-frame particle "
            "it overlaps most (thesis 3.5, 'Label by 2+1D connectivity'). Writes the tracked label stack "
            "(labels.tif, uint16/uint32 with the pixel size in nm, or labels.npz), properties.csv (area "
            "[nm²], centre of mass [nm], equivalent diameter [nm], displacement [nm] per id per frame), "
            "area.png and frames.png into OUT. Frames are read and written one at a time."
        ),
    )
    p.add_argument("stack", metavar="STACK",
                   help="probability-map or mask stack: .npy, .npz, .tif, or the folder of temnn predict's frames")
    p.add_argument("--min-separation", metavar="NM", type=float, required=True,
                   help="smallest distance between particle centres [nm]; its square is the smallest area kept [nm²]")
    _common_options(p)
    p.add_argument("--threshold", metavar="P", type=float, default=0.5,
                   help="particle where the map ≥ this (default 0.5)")
    p.add_argument("--overlap", metavar="FRACTION", type=float, default=0.5,
                   help="smallest overlap area(A∩B)/min(area(A), area(B)) that keeps an id between frames (default 0.5)")
    p.add_argument("--ids", metavar="ID", type=int, nargs="+", help="ids drawn in area.png (default: --n-ids)")
    p.add_argument("--n-ids", metavar="N", type=int, default=8,
                   help="draw the N longest-lived (then largest) particles in area.png (default 8)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: STACK name + '_track' beside it)")
    p.set_defaults(func=_run_track)

    p = subparsers.add_parser(
        "fft-track",
        help="power spectra of one tracked particle over time and its Fourier peaks (intensity, angle)",
        description=(
            "Crop particle --id out of every frame of IMAGES with its own mask from LABELS (temnn track), "
            "soften the mask edge with a Gaussian, and take the power spectrum ('Get FFT along time axis', "
            "thesis figs. 6.4, 6.5). Follows Fourier peaks through the spectra: the mean intensity in a "
            "window around each peak as a fraction of the spectrum's maximum, and the peak angle "
            "atan2(qy, qx) [°] per frame. Writes spectra_idN.tif/.npz, fourier_peaks_idN.csv and plots."
        ),
    )
    p.add_argument("images", metavar="IMAGES", help="image stack: .npy, .npz, .tif or a microscope file")
    p.add_argument("labels", metavar="LABELS",
                   help="tracked label stack of the same frames (labels.tif of temnn track)")
    p.add_argument("--id", dest="track_id", metavar="N", type=int, required=True, help="the particle's track id")
    p.add_argument("--peaks", metavar="Q", type=float, nargs="+",
                   help="starting peaks as pairs QX QY [1/Å] (default: the --n-peaks strongest in the first frame)")
    p.add_argument("--n-peaks", metavar="K", type=int, default=2,
                   help="peaks followed when --peaks is not given (default 2)")
    p.add_argument("--window", metavar="PIXELS", type=int,
                   help="side of the square around each peak [spectrum pixels] (default 30, or crop/8 if smaller)")
    p.add_argument("--sigma", metavar="PIXELS", type=float, default=2.0,
                   help="Gaussian softening of the mask edge [pixels] (default 2)")
    p.add_argument("--size", metavar="PIXELS", type=int, help="crop side [pixels] (default: from the particle)")
    _common_options(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: the folder of LABELS)")
    p.set_defaults(func=_run_fft_track)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampling", metavar="Å", type=float,
                   help="pixel size [Å/pixel] (default: the file's calibration)")
    p.add_argument("--frame-interval", metavar="S", type=float,
                   help="time between frames [s] (default: the file's; else tables use frame numbers)")
    p.add_argument("--channel", metavar="C", type=int,
                   help="channel of a (T, C, x, y) stack or of per-frame (C, x, y) predictions (a softmax Mask "
                        "model: 0 = particles, the last = background)")
    p.add_argument("--format", choices=("tif", "npz"), default="tif", help="output stack format (default tif)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_track(args: argparse.Namespace) -> int:
    from ..workflows.track import track_file

    files = track_file(args.stack, min_separation=args.min_separation, sampling=args.sampling,
                       threshold=args.threshold, overlap=args.overlap, frame_interval=args.frame_interval,
                       ids=args.ids, n_ids=args.n_ids, channel=args.channel, out=args.out, fmt=args.format,
                       progress=not args.quiet)
    print(f"temnn track: wrote {files['labels'].parent}")
    return 0


def _run_fft_track(args: argparse.Namespace) -> int:
    from ..workflows.track import fft_track_file

    peaks = None
    if args.peaks is not None:
        if len(args.peaks) % 2:
            raise TemnnError(f"--peaks: expected pairs QX QY in 1/Å, got {len(args.peaks)} numbers")
        peaks = list(zip(args.peaks[0::2], args.peaks[1::2]))
    files = fft_track_file(args.images, args.labels, track_id=args.track_id, sampling=args.sampling, peaks=peaks,
                           n_peaks=args.n_peaks, window=args.window, sigma=args.sigma, size=args.size,
                           frame_interval=args.frame_interval, channel=args.channel, out=args.out,
                           fmt=args.format, progress=not args.quiet)
    print(f"temnn fft-track: wrote {files['peaks'].parent}")
    return 0
