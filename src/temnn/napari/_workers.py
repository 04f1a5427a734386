"""The work behind the widgets, as generators that call the temnn library and yield progress.

Each function here runs in a napari worker thread (``napari.qt.threading``) and knows
nothing of Qt: it reads its inputs one frame at a time, calls the library, and yields a
:class:`Step` after every frame (or sample, or epoch), so the widget can show progress,
add results as they come and stop the work between two steps. Checks that need no heavy
work (a model whose channels do not fit the layer, an uncalibrated layer, a missing id)
happen before a worker starts, in the ``plan_*`` functions, so the user hears of them at
once.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

import numpy as np

from ..errors import TemnnError
from ..parameters import Parameters
from ..units import ANGSTROM_PER_UNIT
from ._layers import LayerFrames

__all__ = [
    "Step",
    "plan_prediction",
    "predict_frames",
    "track_frames",
    "power_spectra",
    "roi_table",
    "find_atoms",
    "TrainingRun",
    "GENERATORS",
    "simulate_and_train",
]


@dataclass(frozen=True)
class Step:
    """Progress of a worker: ``done`` of ``total`` steps, a message, and the step's result."""

    done: int
    total: int
    message: str = ""
    value: Any = None


# ----------------------------------------------------------------------------------- apply model
def plan_prediction(model: Any, frames: LayerFrames) -> list[int]:
    """First frame of every network input: each frame, or each focal series of C frames.

    A model trained on focal series of C images takes C consecutive frames of a stack (the
    ``(defocus, y, x)`` layer of a focal series) as one input.

    Parameters
    ----------
    model : temnn.nn.Network
        A model from :func:`temnn.load_model`.
    frames : LayerFrames
        The image layer's frames.

    Raises
    ------
    TemnnError
        Class maps given as input, or a focal-series model on a layer with fewer than C
        frames or a number of frames that is no multiple of C.
    """
    from ..nn.tiling import check_channels

    if frames.has_classes:
        raise TemnnError(f"layer '{frames.name}' holds class maps (a prediction); apply the model to an image layer")
    channels = int(getattr(model, "in_channels", 1))
    if channels == 1:
        return list(range(len(frames)))
    if not frames.has_frames or len(frames) % channels:
        check_channels(model, len(frames) if frames.has_frames else 1, source=f"layer '{frames.name}'")
        raise TemnnError(
            f"layer '{frames.name}': {len(frames)} frames are no whole number of focal series of {channels} images; "
            f"pick a layer of {channels} (or a multiple of {channels}) focal-series images"
        )
    return list(range(0, len(frames), channels))


def predict_frames(model: Any, frames: LayerFrames, starts: list[int], *, sampling: float, tile: int = 512,
                   overlap: int = 64, batch_size: int = 4) -> Generator[Step, None, None]:
    """Apply a model to every input of a layer, tile by tile (:func:`temnn.nn.inference.predict`).

    Parameters
    ----------
    model : temnn.nn.Network
        A model from :func:`temnn.load_model`.
    frames : LayerFrames
        The image layer's frames.
    starts : list of int
        First frame of each input (from :func:`plan_prediction`).
    sampling : float
        Pixel size of the frames [Å/pixel].
    tile, overlap : int
        Tile side and overlap [pixels].
    batch_size : int
        Tiles per forward pass.

    Yields
    ------
    Step
        After each input; ``value`` is ``(k, prediction)`` with the (K, nx, ny) prediction of input k.
    """
    from ..nn.inference import predict

    channels = int(getattr(model, "in_channels", 1))
    for k, start in enumerate(starts):
        series = frames.frame(start) if channels == 1 else frames.series(start, channels)
        series = np.asarray(series, dtype=np.float32)
        prediction = predict(model, series if series.ndim == 3 else series[None], sampling=sampling, tile=tile,
                             overlap=overlap, batch_size=batch_size, resample=True, source=f"layer '{frames.name}'")
        yield Step(k + 1, len(starts), f"frame {start + 1} of {len(frames)}", (k, prediction))


# ------------------------------------------------------------------------------------- tracking
def track_frames(frames: LayerFrames, *, channel: int | None, binary: bool, min_separation: float, sampling: float,
                 threshold: float = 0.5, overlap: float = 0.5) -> Generator[Step, None, None]:
    """Split every frame into particles and track them (:func:`temnn.track`), one frame at a time.

    Parameters
    ----------
    frames : LayerFrames
        Probability maps [0-1], or a labels layer (``binary``: every non-zero pixel is particle).
    channel : int, optional
        The particle channel of class maps.
    binary : bool
        Read the frames as masks (non-zero = particle) instead of probabilities.
    min_separation : float
        Smallest distance between particle centres [nm], as the widget shows it; :func:`temnn.track`
        gets it in Å.
    sampling : float
        Pixel size [Å/pixel].
    threshold : float
        Particle where the probability ≥ this [0-1].
    overlap : float
        Smallest overlap that keeps an id from frame to frame [fraction].

    Yields
    ------
    Step
        After each frame; ``value`` is ``(t, labels)`` with the int32 (nx, ny) track ids.
    """
    from ..analysis.tracking import track

    def source() -> Iterator[np.ndarray]:
        for t in range(len(frames)):
            frame = frames.frame(t, channel)
            yield (frame != 0) if binary else frame

    stream = track(source(), min_spacing=min_separation * ANGSTROM_PER_UNIT["nm"], sampling=sampling,
                   threshold=threshold, overlap=overlap)
    for t, labels in enumerate(stream):
        yield Step(t + 1, len(frames), f"frame {t + 1} of {len(frames)}: {len(np.unique(labels)) - 1} particle(s)",
                   (t, labels))


# ----------------------------------------------------------------------------------------- FFT
def power_spectra(images: LayerFrames, labels: LayerFrames, track_id: int, *, sigma: float = 2.0,
                  size: int | None = None) -> Generator[Step, None, None]:
    """Apodised power spectrum of one tracked particle in every frame (:func:`instance_power_spectra`).

    Parameters
    ----------
    images : LayerFrames
        The image frames.
    labels : LayerFrames
        The tracked labels of the same frames.
    track_id : int
        The particle.
    sigma : float
        Gaussian softening of the mask edge [pixels].
    size : int, optional
        Crop side [pixels]; default: from the particle's largest extent.

    Yields
    ------
    Step
        After each frame; ``value`` is ``(t, spectrum)``, an (n, n) fftshifted power spectrum
        (all NaN where the particle is absent).
    """
    from ..analysis.fourier import instance_power_spectra

    every_label = _Frames(labels)  # re-iterable: the default size reads the labels once more
    spectra = instance_power_spectra(_Frames(images), every_label, int(track_id), size=size, sigma=sigma)
    for t, spectrum in enumerate(spectra):
        yield Step(t + 1, len(images), f"frame {t + 1} of {len(images)}", (t, spectrum))


@dataclass
class _Frames:
    """The frames of a layer as a re-iterable sequence (each pass reads them again)."""

    frames: LayerFrames

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.frames.frame(t) for t in range(len(self.frames)))


def check_same_frames(images: LayerFrames, labels: LayerFrames) -> None:
    """Raise :class:`TemnnError` unless two layers have the same number and shape of frames."""
    if len(images) != len(labels) or images.shape != labels.shape:
        raise TemnnError(
            f"layer '{images.name}' ({len(images)} frame(s) of {images.shape[0]}×{images.shape[1]} px) and layer "
            f"'{labels.name}' ({len(labels)} frame(s) of {labels.shape[0]}×{labels.shape[1]} px) do not match; "
            "pick the tracked labels of these images"
        )


# ---------------------------------------------------------------------------------- properties
def roi_table(labels: LayerFrames, ids: list[int], *, sampling: float,
              frame_interval: float | None = None) -> list[dict[str, float]]:
    """Properties of the selected particles in every frame (:func:`temnn.analysis.tracking.property_table`).

    Parameters
    ----------
    labels : LayerFrames
        Tracked labels.
    ids : list of int
        The particles to keep (all when empty).
    sampling : float
        Pixel size [Å/pixel].
    frame_interval : float, optional
        Time between frames [s]; adds a ``time_s`` column.

    Returns
    -------
    list of dict
        One row per selected particle and frame.
    """
    from ..analysis.tracking import property_table

    rows = property_table(_Frames(labels), sampling, frame_interval=frame_interval)
    wanted = set(int(i) for i in ids)
    return [row for row in rows if not wanted or int(row["id"]) in wanted]


# -------------------------------------------------------------------------------------- atoms
def find_atoms(frames: LayerFrames, *, model: Any | None, sampling: float, min_spacing: float, threshold: float,
               background: int | None, tile: int = 512, overlap: int = 64) -> Generator[Step, None, None]:
    """Atomic columns and their classes in every frame (:func:`temnn.find_peaks`).

    Parameters
    ----------
    frames : LayerFrames
        Class probability maps (a Disk prediction or label), or images when ``model`` is given.
    model : temnn.nn.Network, optional
        A Disk model applied first (tiled) to every input of an image layer.
    sampling : float
        Pixel size [Å/pixel].
    min_spacing : float
        Smallest distance between two columns [Å]; at least one pixel.
    threshold : float
        Smallest column probability [0-1].
    background : int, optional
        Index of the background channel (temnn puts it last: -1), None without one.
    tile, overlap : int
        Tiling of the model [pixels].

    Yields
    ------
    Step
        After each frame; ``value`` is ``(t, peaks)`` with a :class:`temnn.analysis.peaks.Peaks`
        (positions (ix, iy) in pixels, classes, probabilities).
    """
    from ..analysis.peaks import find_peaks

    spacing = max(float(min_spacing), sampling)  # at least one pixel
    if model is not None:
        starts = plan_prediction(model, frames)
        maps: Iterator[tuple[int, np.ndarray]] = (
            (k, step.value[1]) for k, step in enumerate(predict_frames(model, frames, starts, sampling=sampling,
                                                                         tile=tile, overlap=overlap)))
        total = len(starts)
    else:
        maps = ((t, frames.frame(t)) for t in range(len(frames)))
        total = len(frames)
    for t, prob in maps:
        peaks = find_peaks(prob, sampling=sampling, min_spacing=spacing, threshold=threshold,
                           background=background if np.ndim(prob) == 3 else None)
        yield Step(t + 1, total, f"frame {t + 1} of {total}: {len(peaks)} columns", (t, peaks))


# ------------------------------------------------------------------------- simulate and train
def _mos2(rng: np.random.Generator, cell: float) -> Any:
    from ..structures.mx2 import random_mx2_flake

    return random_mx2_flake(rng=rng, cell=(cell, cell))


def _particle(rng: np.random.Generator, cell: float) -> Any:
    from ..structures.particle import random_supported_particle

    return random_supported_particle("Au", rng=rng, cell=(cell, cell))


@dataclass(frozen=True)
class _Generator:
    """A structure generator of ``temnn structures`` with its beam energy and default cell."""

    build: Callable[..., Any]
    energy: float  # [eV]
    cell: float  # [Å]
    label: str  # the label the default parameters ask for
    num_classes: int


GENERATORS: dict[str, _Generator] = {
    "mos2": _Generator(_mos2, 50e3, 50.0, "Disk", 4),  # classes 1Mo, 2S, 1S + background
    "particle": _Generator(_particle, 300e3, 60.0, "Mask", 2),  # particle + background
}
"""Structure generators offered by "Simulate and train" (``temnn structures mos2|particle``)."""


def default_parameters(generator: str) -> Parameters:
    """A small parameters file that fits a generator: its label and classes, 128 × 128 images."""
    spec = _generator(generator)
    return Parameters(label=spec.label, image_size=(128, 128), sampling=(0.15, 0.2), num_classes=spec.num_classes,
                      image_epochs=2)


def _generator(name: str) -> _Generator:
    if name not in GENERATORS:
        raise TemnnError(f"generator: expected one of {', '.join(GENERATORS)}, got {name!r}")
    return GENERATORS[name]


@dataclass(frozen=True)
class TrainingRun:
    """Everything "Simulate and train" needs: data, images and training settings.

    Parameters
    ----------
    generator : str
        ``"mos2"`` or ``"particle"`` (see :data:`GENERATORS`).
    parameters : temnn.Parameters
        The parameters file of the images.
    folder : pathlib.Path
        Work folder: data sets, image sets and the model go there; a re-run resumes.
    train_samples, validation_samples : int
        Structures (exit waves) of the two sets.
    epochs : int
        Training epochs.
    arch : str
        ``"msdnet"``, ``"unet"`` or ``"unetpp"``.
    hyperparameters : dict
        Architecture options (``layers``, ``width``, ``levels``, ``filters``, …).
    batch_size : int
        Images per optimizer step.
    cell : float, optional
        Lateral size of the simulation cell [Å]; default: the generator's, or the image's
        field of view when larger.
    seed : int
        Seed of the structures (the validation set uses ``seed + 1``) and of the training.
    """

    generator: str
    parameters: Parameters
    folder: Path
    train_samples: int = 8
    validation_samples: int = 2
    epochs: int = 5
    arch: str = "msdnet"
    hyperparameters: dict[str, Any] = field(default_factory=lambda: {"layers": 20})
    batch_size: int = 4
    cell: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _generator(self.generator)
        for name, low in (("train_samples", 1), ("validation_samples", 1), ("epochs", 1), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TemnnError(f"{name}: expected an integer ≥ {low}, got {value!r}")

    @property
    def field_of_view(self) -> float:
        """The largest image side [Å]."""
        return max(self.parameters.image_size) * self.parameters.sampling[1]

    @property
    def cell_size(self) -> float:
        """Lateral size of the simulation cell [Å]."""
        if self.cell is not None:
            return float(self.cell)
        return max(_generator(self.generator).cell, math.ceil(self.field_of_view) + 2.0)

    @property
    def key(self) -> str:
        """Short hash of the parameters and training options: a new value gives new image sets and model."""
        text = json.dumps([self.parameters.to_dict(), self.arch, self.hyperparameters, self.batch_size, self.seed],
                          sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    @property
    def model_folder(self) -> Path:
        """Training output folder (``best.json`` + ``best.safetensors`` when done)."""
        return self.folder / f"model-{self.key}"


def simulate_and_train(run: TrainingRun) -> Generator[Step, None, Path]:
    """Make structures, exit waves, images, and train a network, yielding after each unit of work.

    Every stage resumes: finished samples, images and epochs are skipped on a re-run, so a
    cancelled run continues where it stopped.

    Parameters
    ----------
    run : TrainingRun
        What to make and train.

    Yields
    ------
    Step
        After each structure, each image set and each epoch; after an epoch ``value`` is the
        training history so far (one dict per epoch: ``train_loss``, ``val_loss``, …).

    Returns
    -------
    pathlib.Path
        The trained model's stem (``MODEL/best``), ready for :func:`temnn.load_model`.
    """
    from ..workflows.structures import generate_dataset
    from ..nn.training import TrainingOptions, train
    from ..workflows.images import make_images
    from ..simulate.waves import WaveSettings

    spec = _generator(run.generator)
    if run.field_of_view > run.cell_size:
        raise TemnnError(
            f"cell: the images' field of view ({run.field_of_view:.1f} Å) is larger than the simulation cell "
            f"({run.cell_size:.1f} Å); give a larger cell or smaller images"
        )
    make = functools.partial(spec.build, cell=run.cell_size)
    settings = WaveSettings(energy=spec.energy, sampling=run.parameters.sampling[0])
    total = run.train_samples + run.validation_samples + 2 + run.epochs
    done = 0
    splits = (("train", run.train_samples, run.seed), ("validation", run.validation_samples, run.seed + 1))
    for split, count, seed in splits:
        for index in range(count):
            generate_dataset(run.folder / f"{run.generator}-{split}", 1, make, seed=seed, start=index,
                             wave_settings=settings, generator={"name": run.generator, "cell": run.cell_size},
                             progress=False)
            done += 1
            yield Step(done, total, f"{split} structure {index + 1} of {count}")
    name = f"gui-{run.key}"
    image_sets = []
    for split, _, _ in splits:
        image_sets.append(make_images(run.folder / f"{run.generator}-{split}", run.parameters, name=name,
                                      test=split == "validation", progress=False))
        done += 1
        yield Step(done, total, f"{split} images")
    options = TrainingOptions(arch=run.arch, hyperparameters=dict(run.hyperparameters), batch_size=run.batch_size,
                              seed=run.seed, device="auto", progress=False)
    for epoch in range(1, run.epochs + 1):
        # one epoch per call: train() resumes exactly from the previous call's checkpoint
        history = train(image_sets[0], image_sets[1], run.model_folder, dataclasses.replace(options, epochs=epoch))
        done += 1
        yield Step(done, total, f"epoch {epoch} of {run.epochs}: val loss {history[-1]['val_loss']:.4g}",
                   list(history))
    return run.model_folder / "best"
