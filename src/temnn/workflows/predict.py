"""The prediction stage (``temnn predict MODEL FILES...``): apply a trained model to experimental images and stacks.

For every file (``.dm3/.dm4``, TIFF, Velox ``.emd``, TIA ``.emi/.ser``, ``.mrc``, PNG) and every
frame of a stack, streamed one frame at a time, the model's prediction is written to
``OUT/STEM/`` (``STEM`` = the file name without its suffix):

- ``NNNNN.tif``: the (K, ny, nx) prediction of frame NNNNN, float32, calibrated like the input
  (ImageJ ``unit=nm`` and resolution, plus DigitalMicrograph scale tags, as RosettaSciIO
  writes them), so it overlays the image in ImageJ, DigitalMicrograph or HyperSpy;
- ``NNNNN.npz`` (``--format npz|both``): ``prediction`` (K, nx, ny) in temnn's (x, y) order,
  ``sampling`` [Å/pixel], ``frame``;
- ``NNNNN.png``: overview, image with scale bar beside the prediction (first frame, or every
  N-th with ``--overviews N``);
- ``prediction.json``: source file, calibration, acquisition metadata, model and options.

Every file is written atomically and a re-run skips frames whose files exist. A file that
cannot be read is reported and skipped; the command fails at the end, naming the files.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import TemnnError

__all__ = ["predict_files", "FORMATS"]

FORMATS = {"tiff": ("tif",), "npz": ("npz",), "both": ("tif", "npz")}
"""``--format`` choices → file suffixes written per frame."""


def predict_files(
    model: Any,
    files: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    sampling: float | None = None,
    signal: int | None = None,
    batch_size: int = 4,
    device: Any = "cpu",
    tile: int = 512,
    overlap: int = 64,
    file_format: str = "tiff",
    overviews: int | None = None,
    focal_series: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Predict every frame of every file and write the results (the ``temnn predict`` command).

    Parameters
    ----------
    model : str, os.PathLike or temnn.nn.Network
        A model path (loaded with :func:`temnn.load_model`) or a loaded model.
    files : sequence of path
        Microscope files.
    out : path
        Output folder; results of ``a/b/NAME.dm4`` go to ``out/NAME/``.
    sampling : float, optional
        Pixel size [Å/pixel] for uncalibrated files; replaces the files' calibration.
    signal : int, optional
        Signal index in multi-signal files.
    batch_size : int
        Tiles per forward pass.
    device : str or torch.device
        Where to run the network.
    tile : int
        Tile side [pixels].
    overlap : int
        Tile overlap [pixels].
    file_format : str
        ``"tiff"``, ``"npz"`` or ``"both"``.
    overviews : int, optional
        Overview PNG every N-th frame; None: the first frame only; 0: none.
    focal_series : bool
        Consecutive groups of C frames form one input of a C-image focal-series model.
    progress : bool
        Show a progress bar per file.

    Returns
    -------
    list of pathlib.Path
        The output folder of each file.

    Raises
    ------
    TemnnError
        A bad option or model (at once), or files that could not be read (after the
        others are done, naming each).
    """
    from tqdm import tqdm

    from ..io.files import output_folder
    from ..nn.checkpoints import load_model, resolve_stem
    from ..nn.tiling import check_tiling

    output_folder(out, what="--out", create=False)
    check_tiling(tile, overlap, batch_size)
    if file_format not in FORMATS:
        raise TemnnError(f"--format must be one of {', '.join(sorted(FORMATS))}, got {file_format!r}")
    if overviews is not None and overviews < 0:
        raise TemnnError(f"--overviews must be ≥ 0 (0: none), got {overviews}")
    model_name = str(resolve_stem(model)) if isinstance(model, (str, os.PathLike)) else type(model).__name__
    network = load_model(model, device=device) if isinstance(model, (str, os.PathLike)) else model.to(device)
    stems = [Path(f).stem for f in files]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise TemnnError(f"FILES: several files share the name {duplicates[0]!r}; their results would mix in one "
                         "folder, so predict them in separate runs with different --out")
    failed: list[str] = []
    folders = []
    for path, stem in zip(map(Path, files), stems):
        folder = Path(out) / stem
        try:
            _predict_file(network, model_name, path, folder, sampling=sampling, signal=signal, batch_size=batch_size,
                          tile=tile, overlap=overlap, suffixes=FORMATS[file_format], overviews=overviews,
                          focal_series=focal_series, progress=progress, bar=tqdm)
        except TemnnError as err:
            if len(files) == 1:
                raise
            tqdm.write(f"temnn predict: {err}", file=sys.stderr)
            failed.append(str(path))
            continue
        folders.append(folder)
    if failed:
        raise TemnnError(f"{len(failed)} of {len(files)} file(s) could not be predicted: {', '.join(failed)} "
                         "(see the messages above)")
    return folders


def _predict_file(network: Any, model_name: str, path: Path, folder: Path, *, sampling: float | None,
                  signal: int | None, batch_size: int, tile: int, overlap: int, suffixes: tuple[str, ...],
                  overviews: int | None, focal_series: bool, progress: bool, bar: Any) -> None:
    """Predict the frames of one file that are not done yet and write their files."""
    from ..io.files import write_json
    from ..analysis.experimental import ExperimentalData

    data = ExperimentalData(path, sampling=sampling, signal=signal)
    step = int(network.in_channels) if focal_series else 1
    starts = list(range(0, len(data) - step + 1, step))
    if not starts:
        raise TemnnError(f"{path}: {len(data)} frame(s), fewer than one focal series of {step}")
    write_json(folder / "prediction.json", _description(data, network, model_name, tile, overlap, focal_series))
    todo = [i for i in starts if not _is_done(folder, i, suffixes, _wants_overview(i // step, overviews))]
    predictions = data.infer_frames(network, frames=todo, tile=tile, overlap=overlap, batch_size=batch_size,
                                    focal_series=focal_series)
    with bar(total=len(starts), initial=len(starts) - len(todo), desc=path.name, unit="frame",
             disable=not progress, leave=False) as progress_bar:
        for index, prediction in predictions:
            _write_frame(folder, index, prediction, data, suffixes,
                         overview=_wants_overview(index // step, overviews))
            progress_bar.update(1)


def _wants_overview(position: int, overviews: int | None) -> bool:
    """Whether the ``position``-th predicted frame gets an overview PNG."""
    if overviews is None:
        return position == 0
    return overviews > 0 and position % overviews == 0


def _is_done(folder: Path, index: int, suffixes: tuple[str, ...], overview: bool) -> bool:
    wanted = list(suffixes) + (["png"] if overview else [])
    return all((folder / f"{index:05d}.{suffix}").is_file() for suffix in wanted)


def _write_frame(folder: Path, index: int, prediction: Any, data: Any, suffixes: tuple[str, ...], *,
                 overview: bool) -> None:
    """Write one frame's prediction (TIFF and/or NPZ) and, if asked, its overview PNG (atomically)."""
    from ..analysis.plotting import plot_side_by_side
    from ..io.stacks import write_prediction

    name = folder / f"{index:05d}"
    write_prediction(name, prediction, data.sampling, suffixes, frame=index,
                     title=f"{data.path.name} frame {index} prediction")
    if overview:
        import matplotlib.pyplot as plt

        fig, _ = plot_side_by_side(data.frame(index), prediction=prediction, sampling=data.sampling,
                                   titles=(f"{data.path.name}, frame {index}", "label", "prediction"),
                                   path=name.with_suffix(".png"))
        plt.close(fig)


def _description(data: Any, network: Any, model_name: str, tile: int, overlap: int, focal_series: bool) -> dict[str, Any]:
    """The JSON record of one file's prediction run."""
    card = getattr(network, "card", None) or {}
    return {
        "source": str(data.path),
        "signal_index": data.signal_index,
        "signal_title": data.signal_title,
        "frames": len(data),
        "shape_xy": list(data.shape),
        "sampling_angstrom": data.sampling,
        "acquisition": dataclasses.asdict(data.file.acquisition),
        "model": {
            "path": model_name,
            "architecture": card.get("architecture"),
            "task": card.get("task"),
            "training_sampling_angstrom": card.get("sampling"),
        },
        "tile": tile,
        "overlap": overlap,
        "focal_series": focal_series,
        "files": "NNNNN.tif: (K, ny, nx) prediction calibrated in nm; NNNNN.npz: prediction (K, nx, ny), sampling [Å/pixel]",
    }
