"""Simulated HR-TEM data: one image of an image set, its ground truth, a model's prediction and the scores.

:class:`SimulatedData` is the thesis' ``Simulated_Data`` object (section 3.4, table A.1) with
PEP 8 names. It opens one ``NNNNN_EE.npz`` of an image set (``DATA/images/NAME``, made by
``temnn images``) together with the set's ``parameters.json`` and the image's own microscope
parameters (``NNNNN_EE.json``), applies a trained network and scores its prediction against the
label:

- segmentation (Mask, Disk, Gaussian): the pixel F1-Score per class and over all classes
  (thesis eqs. 3.5-3.7), and for Disk/Gaussian labels the atomic F1-Score (publication III):
  columns found in the prediction matched one-to-one with the columns of the label within a
  radius in Å (default 1 Å), converted to pixels with the image's own sampling;
- regression (Exitwave): the RMSE of the real part, the imaginary part and the complex wave
  (publication I), and Argand plots of the predicted and the true wave.

The true columns of the atomic F1-Score are the peaks of the label, found with the same
:func:`~temnn.analysis.peaks.find_peaks` as the prediction's. The label's discs are centred on
the stored sites (a disc covers the pixels within ``spotsize / 2`` of its site), so the peaks
are the sites to within a fraction of a pixel; unlike the stored sites they also treat columns
cut by the image border exactly as the prediction is treated (a disc cut by the border is a
column in both, a site just outside the field is a column in neither), so a perfect prediction
scores exactly 1. The stored sites (``DATA/sites/NNNNN.npz``) are used, when they exist, only
for the class names and to colour Argand plots.

The module also holds what :mod:`temnn.workflows.evaluate` shares with the object: checking that
a model fits an image set (:func:`prepare_models`) and batched, possibly ensemble, inference on
focal series of differing sampling (:func:`infer_series`).

Images index ``[ix, iy]`` (abTEM's order) throughout, like the image-set files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ..io.provenance import OverlapReport
from ..errors import TemnnError
from ..parameters import Parameters
from ..units import length_in_pixels
from .metrics import ATOMIC_F1_RADIUS, AtomicScores, Score, WaveRMSE, atomic_scores, exit_wave_rmse, pixel_scores

__all__ = [
    "SimulatedData",
    "PixelScores",
    "PreparedModel",
    "prepare_models",
    "infer_series",
    "TASK_METRIC",
    "META_COLUMNS",
]

TASK_METRIC = {"Mask": "pixel_f1", "Disk": "atomic_f1", "Gaussian": "atomic_f1", "Exitwave": "rmse"}
"""Column of :meth:`SimulatedData.metrics_row` that scores each label type (lower is better only for ``rmse``)."""

META_COLUMNS = ("index", "epoch", "sampling_angstrom", "dose_e_per_angstrom2", "defocus_angstrom")
"""Columns of :meth:`SimulatedData.metrics_row` that describe the image rather than score it."""

_STEM = re.compile(r"^(\d+)_(\d+)$")


@dataclass(frozen=True)
class PixelScores:
    """Pixel counts and F1-Scores of a segmentation, per class and over all classes.

    Attributes
    ----------
    per_class : Mapping[int, Score]
        Score of each class channel (background channel left out), by channel index.
    overall : Score
        Sum of the per-class counts (micro average): a pixel of the wrong class is both a
        false positive and a false negative.
    """

    per_class: Mapping[int, Score]
    overall: Score

    @property
    def f1(self) -> float:
        """Overall pixel F1-Score [0-1]."""
        return self.overall.f1


class PreparedModel(NamedTuple):
    """A network checked against an image set, with what inference needs.

    Attributes
    ----------
    network : torch.nn.Module
        The network (returns logits).
    task : temnn.nn.Task
        Output activation of the network (from its card, else from the image set's label).
    normalizedistance : float
        Width of the local-standardisation Gaussian [Å] (card, else the image set's).
    name : str
        The model file, or the module's class name, for messages and reports.
    """

    network: Any
    task: Any
    normalizedistance: float
    name: str


def prepare_models(model: Any, parameters: Parameters, *, device: Any = "cpu",
                   source: str = "image set") -> list[PreparedModel]:
    """Load models (if given as paths) and check that they fit an image set.

    Parameters
    ----------
    model : path, torch.nn.Module, PreparedModel or sequence of them
        A model file or training folder (:func:`temnn.load_model`), a loaded network (its
        card's task and standardisation width are used, else the image set's), a model
        prepared before (checked again), or several (an ensemble, whose mean prediction is
        used).
    parameters : temnn.Parameters
        The image set's parameters file (label, focal-series length, label channels).
    device : str or torch.device
        Where models given as paths are loaded.
    source : str
        Name of the image set, for messages.

    Returns
    -------
    list of PreparedModel
        One per model.

    Raises
    ------
    TemnnError
        No model, or a model whose input channels (focal-series length), output channels or
        label type differ from the image set's.
    """
    from ..nn.checkpoints import load_model, resolve_stem
    from ..nn.tasks import task_for

    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise TemnnError("model: give at least one model")
    own_task = task_for(parameters)
    prepared = []
    for m in models:
        if isinstance(m, PreparedModel):
            name, network, task, distance = m.name, m.network, m.task, m.normalizedistance
        else:
            if isinstance(m, (str, os.PathLike)):
                name, network = str(resolve_stem(m)), load_model(m, device=device)
            else:
                name, network = type(m).__name__, m
            task = getattr(network, "task", None) or own_task
            card = getattr(network, "card", None) or {}
            distance = float(card.get("normalizedistance") or parameters.normalizedistance)
        problems = []
        if task.label != parameters.label:
            problems.append(f"it was trained on {task.label} labels, the set has {parameters.label} labels")
        inputs = getattr(network, "in_channels", parameters.input_channels)
        if inputs != parameters.input_channels:
            problems.append(f"it takes focal series of {inputs} image(s), the set has {parameters.input_channels}")
        outputs = getattr(network, "out_channels", task.channels)
        if outputs != parameters.output_channels:
            problems.append(f"it predicts {outputs} channel(s), the set's labels have {parameters.output_channels}")
        if problems:
            raise TemnnError(
                f"{name}: the model does not fit {source}: " + "; ".join(problems)
                + ". Evaluate it on an image set made with the parameters file it was trained on"
            )
        prepared.append(PreparedModel(network, task, distance, name))
    return prepared


def infer_series(models: Sequence[PreparedModel], images: np.ndarray, sampling: float | Sequence[float], *,
                 batch_size: int = 8, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions of one model, or the mean of an ensemble, for a batch of focal series.

    Parameters
    ----------
    models : sequence of PreparedModel
        From :func:`prepare_models`.
    images : numpy.ndarray
        (B, C, nx, ny) raw image intensities (standardised here as in training).
    sampling : float or sequence of float
        Sampling of every series, or one per series [Å/pixel].
    batch_size : int
        Series per forward pass.
    threshold : float
        Probability above which a single sigmoid channel counts as the object when the
        ensemble votes [0-1].

    Returns
    -------
    (prediction, disagreement)
        float32 (B, K, nx, ny) probabilities or exit wave (the ensemble mean), and for an
        ensemble the disagreement (:class:`~temnn.analysis.ensemble.EnsemblePrediction`:
        (B, nx, ny) fraction of models off the majority class, or (B, 2, nx, ny) standard
        deviation of an exit wave); ``None`` for a single model.
    """
    from ..nn.inference import predict

    def run(m: PreparedModel, x: np.ndarray) -> np.ndarray:
        return predict(m.network, x, sampling=sampling, batch_size=batch_size, task=m.task,
                       normalizedistance=m.normalizedistance)

    if len(models) == 1:
        return run(models[0], images), None
    from .ensemble import ensemble_predict

    kind = "regression" if models[0].task.activation == "linear" else "segmentation"
    result = ensemble_predict([lambda x, m=m: run(m, x) for m in models], images, task=kind, threshold=threshold)
    return result.mean.astype(np.float32), result.disagreement.astype(np.float32)


class SimulatedData:
    """One simulated image or focal series with its label, microscope parameters and a prediction.

    Parameters
    ----------
    image_label_file : str or os.PathLike
        The image + label file ``DATA/images/NAME/NNNNN_EE.npz`` (``image`` (C, nx, ny),
        ``label`` (K, nx, ny), ``sampling`` [Å/pixel], ``origin`` [Å]).
    parameters_file : str, os.PathLike or temnn.Parameters, optional
        The image set's parameters file; default ``parameters.json`` beside the image.
    tem_parameters_file : str or os.PathLike, optional
        The image's microscope parameters; default the ``.json`` of the same name.

    Attributes
    ----------
    image : numpy.ndarray
        (C, nx, ny) float32 image intensities (vacuum 1 before noise).
    label : numpy.ndarray
        (K, nx, ny) float32 ground truth (background channel last when there is one).
    sampling : float
        Pixel size [Å/pixel].
    origin : tuple of float
        Position of pixel (0, 0) in the structure's cell frame [Å].
    microscope : dict
        Microscope parameters drawn for the image (defocus [Å], dose [e⁻/Å²], …).
    parameters : temnn.Parameters
        The image set's parameters file.
    index, epoch : int or None
        Sample and image epoch, from the ``NNNNN_EE`` file name.
    standardised : numpy.ndarray or None
        (C, nx, ny) locally standardised image, after :meth:`local_standardise`.
    prediction : numpy.ndarray or None
        (K, nx, ny) probabilities or exit wave, after :meth:`infer`.
    disagreement : numpy.ndarray or None
        Disagreement of an ensemble given to :meth:`infer` (see :func:`infer_series`).
    overlap : temnn.io.provenance.OverlapReport or None
        After :meth:`infer`: whether a model trained or validated on this image's sample
        (only with ``allow_overlap``) or cannot tell (a card without training sets).

    Examples
    --------
    >>> data = SimulatedData("test/images/disk/00000_00.npz")                  # doctest: +SKIP
    >>> data.infer("model/best")                                               # doctest: +SKIP
    >>> data.f1_score().f1, data.atomic_f1(radius=1.0).overall.f1               # doctest: +SKIP
    (0.93, 1.0)
    >>> data.plot(path="example.png")                                          # doctest: +SKIP
    """

    def __init__(self, image_label_file: str | os.PathLike,
                 parameters_file: str | os.PathLike | Parameters | None = None,
                 tem_parameters_file: str | os.PathLike | None = None) -> None:
        self.path = Path(image_label_file)
        self.parameters_file = self.path.parent / "parameters.json" if parameters_file is None else parameters_file
        self.tem_parameters_file = Path(tem_parameters_file or self.path.with_suffix(".json"))
        match = _STEM.match(self.path.stem)
        self.index: int | None = int(match[1]) if match else None
        self.epoch: int | None = int(match[2]) if match else None
        self.load()

    def __repr__(self) -> str:
        c, nx, ny = self.image.shape
        return (f"SimulatedData({str(self.path)!r}, {self.parameters.label}, {c} image(s) of {nx}×{ny} px, "
                f"sampling={self.sampling:.4g} Å/px)")

    # -------------------------------------------------------------------------- files
    def load(self) -> SimulatedData:
        """(Re)read image, label, sampling, origin and the parameters files; forgets any prediction.

        Called by the constructor. Returns the object itself.

        Raises
        ------
        TemnnError
            A file is missing or malformed, or the image or label does not have the shape the
            parameters file gives (focal-series length, label channels).
        """
        from ..io.image_sets import read_image_file

        record = read_image_file(self.path, self.tem_parameters_file)
        self.parameters = (self.parameters_file if isinstance(self.parameters_file, Parameters)
                           else Parameters.load(self.parameters_file))
        p = self.parameters
        if record.image.ndim != 3 or record.image.shape[0] != p.input_channels:
            raise TemnnError(f"{self.path}: 'image' must be ({p.input_channels}, nx, ny) per the parameters file "
                             f"(focal series of {p.input_channels}), got {record.image.shape}")
        if record.label.shape != (p.output_channels,) + record.image.shape[1:]:
            raise TemnnError(f"{self.path}: 'label' must be ({p.output_channels}, nx, ny) like the image and the "
                             f"parameters file ({p.label} label), got {record.label.shape}")
        self.image = record.image.astype(np.float32, copy=False)
        self.label = record.label.astype(np.float32, copy=False)
        self.sampling = record.sampling
        self.origin = record.origin
        self.microscope = record.microscope
        self.standardised: np.ndarray | None = None
        self.prediction: np.ndarray | None = None
        self.disagreement: np.ndarray | None = None
        self.overlap: OverlapReport | None = None
        return self

    @property
    def dose(self) -> float | None:
        """Electron dose of the image [e⁻/Å²]; ``None`` for a noise-free image."""
        dose = self.microscope.get("dose")
        return None if dose is None else float(dose)

    @property
    def defocus(self) -> tuple[float, ...]:
        """Defocus Δf = −C10 of each image of the series [Å]."""
        return tuple(float(d) for d in np.atleast_1d(self.microscope.get("defocus", np.nan)))

    @property
    def has_background(self) -> bool:
        """Whether the last label channel is the background."""
        from ..simulate.labels import has_background

        return has_background(self.parameters)

    @property
    def class_channels(self) -> list[int]:
        """Label channels of the classes (all but the background) of a segmentation."""
        return list(range(self.label.shape[0] - int(self.has_background)))

    @property
    def class_names(self) -> list[str]:
        """Names of :attr:`class_channels`: the stored site classes (Disk/Gaussian), ``mask`` or ``classK``."""
        if self.parameters.label == "Mask":
            return ["mask"]
        names = self._sites()[2] if self.parameters.label in ("Disk", "Gaussian") else ()
        channels = self.class_channels
        return list(names) if len(names) == len(channels) else [f"class{k}" for k in channels]

    def _sites(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        """Stored sites [pixels on this image's grid], classes and class names; empty when not stored."""
        # DATA/images/NAME/NNNNN_EE.npz -> DATA/sites/NNNNN.npz (DESIGN.md layout). Read here rather than with
        # temnn.io.dataset.load_sites, whose module imports abTEM (seconds) for the waves it also reads.
        path = self.path.parent.parent.parent / "sites" / f"{self.index:05d}.npz" if self.index is not None else None
        if path is None or not path.is_file():
            return np.zeros((0, 2)), np.zeros(0, np.int64), ()
        with np.load(path, allow_pickle=False) as f:
            sites, classes, names = f["sites"], f["classes"], tuple(str(n) for n in f["class_names"])
        return (np.asarray(sites) - np.asarray(self.origin)) / self.sampling, np.asarray(classes), names

    # ----------------------------------------------------------------------- analysis
    def local_standardise(self) -> np.ndarray:
        """The image locally standardised as the network sees it (thesis eq. 3.1).

        The Gaussian window is the parameters file's ``normalizedistance`` [Å].

        Returns
        -------
        numpy.ndarray
            float32 (C, nx, ny), also kept as :attr:`standardised`.
        """
        import torch

        from ..nn.standardise import local_standardise, standardisation_sigma

        sigma = standardisation_sigma(self.parameters.normalizedistance, self.sampling)
        self.standardised = local_standardise(torch.from_numpy(self.image), sigma).numpy()
        return self.standardised

    cp_local_standardise = local_standardise
    """Thesis name of :meth:`local_standardise` (table A.1)."""

    def infer(self, model: Any, *, device: Any = "cpu", batch_size: int = 8, threshold: float = 0.5,
              allow_overlap: bool = False) -> np.ndarray:
        """Apply a trained network (or the mean of an ensemble) to the image.

        The image is standardised as in training and the network's output activation is
        applied (softmax/sigmoid probabilities, or the linear exit wave). An image whose
        sample (structure) a model trained or validated on, as its card records, is refused
        unless ``allow_overlap`` (see :mod:`temnn.io.provenance`).

        Parameters
        ----------
        model : path, torch.nn.Module or sequence of them
            A model file or training folder, a network from :func:`temnn.load_model`, or a
            plain module returning logits (its task then follows from the image set's
            label); several for an ensemble (see :func:`prepare_models`).
        device : str or torch.device
            Where models given as paths are loaded.
        batch_size : int
            Series per forward pass.
        threshold : float
            Probability of the object class for ensemble votes of a single sigmoid channel [0-1].
        allow_overlap : bool
            Predict even if a model trained or validated on this sample; :attr:`overlap` says so.

        Returns
        -------
        numpy.ndarray
            float32 (K, nx, ny) prediction, also kept as :attr:`prediction` (and an ensemble's
            :attr:`disagreement`).

        Raises
        ------
        TemnnError
            A model that does not fit the image set, or that trained or validated on this
            sample (without ``allow_overlap``).

        Warns
        -----
        OverlapWarning
            A model card that records no training or validation samples (older temnn).
        """
        from ..io.provenance import check_test_set, sample_set

        models = prepare_models(model, self.parameters, device=device, source=str(self.path))
        if self.index is not None:
            self.overlap = check_test_set([(m.name, getattr(m.network, "card", None)) for m in models],
                                          sample_set(self.path.parent, [self.index]), allow_overlap=allow_overlap)
        prediction, disagreement = infer_series(models, self.image[None], self.sampling, batch_size=batch_size,
                                                threshold=threshold)
        self.prediction = prediction[0]
        self.disagreement = None if disagreement is None else disagreement[0]
        return self.prediction

    def f1_score(self, *, threshold: float = 0.5) -> PixelScores:
        """Pixel F1-Scores of the prediction, per class and over all classes (thesis eqs. 3.5-3.7).

        Each class channel of the prediction is thresholded and compared with the label
        channel pixel by pixel; the background channel is left out (its F1 is near 1 for any
        sensible network and says nothing).

        Parameters
        ----------
        threshold : float
            A pixel belongs to a class where its probability is ≥ ``threshold`` [0-1].

        Returns
        -------
        PixelScores
            ``per_class[k]`` for each class channel k (names in :attr:`class_names`) and
            ``overall``; ``.f1`` is the overall F1-Score.
        """
        self._require("f1_score", segmentation=True)
        channels = self.class_channels
        scores = pixel_scores(self.prediction[channels], self.label[channels], threshold=threshold)
        return PixelScores(dict(zip(channels, scores)), sum(scores, Score(0, 0, 0)))

    get_f1_score = f1_score
    """Thesis name of :meth:`f1_score` (listing 3.9)."""

    def atomic_f1(self, radius: float = ATOMIC_F1_RADIUS, *, threshold: float = 0.5,
                  min_spacing: float | None = None, min_distance: float | None = None) -> AtomicScores:
        """Atomic F1-Score of a Disk or Gaussian prediction (publication III, section 2).

        Columns are the peaks of the prediction (probability ≥ ``threshold``) and of the label
        (see the module notes); a predicted column is a true positive when it lies within
        ``radius`` of a true column of the same class, each column matched at most once.

        Parameters
        ----------
        radius : float
            Largest distance of a true positive [Å] (publication III: 1 Å); it is
            ``radius / sampling`` pixels of this image.
        threshold : float
            Smallest column probability of a predicted peak [0-1].
        min_spacing : float, optional
            Smallest distance between two columns [Å]; default the disc diameter
            ``spotsize`` (at least one pixel).
        min_distance : float, optional
            Deprecated: the same in pixels; warns.

        Returns
        -------
        AtomicScores
            Per class (by channel index), summed over classes (``overall``) and regardless of
            class (``class_agnostic``).
        """
        from .peaks import _find_peaks

        self._require("atomic_f1", segmentation=True)
        if self.parameters.label not in ("Disk", "Gaussian"):
            raise TemnnError(f"{self.path}: the atomic F1-Score needs Disk or Gaussian labels (atomic columns), "
                             f"not {self.parameters.label}; use f1_score() for the pixel F1-Score")
        distance = self._column_spacing("atomic_f1", min_spacing, min_distance)
        background = -1 if self.has_background else None
        found = _find_peaks(self.prediction, distance, threshold=threshold, background=background)
        true = _find_peaks(self.label, distance, threshold=0.5, background=background)
        return atomic_scores(found, true, radius=radius, sampling=self.sampling)

    def rmse(self) -> WaveRMSE:
        """Root-mean-square error of a predicted exit wave (publication I, fig. 4).

        Returns
        -------
        WaveRMSE
            RMSE of the real part, the imaginary part and the complex wave
            [dimensionless, vacuum = 1].
        """
        self._require("rmse", segmentation=False)
        return exit_wave_rmse(self.prediction, self.label)

    def area(self, *, threshold: float = 0.5) -> tuple[float, float]:
        """Area of a Mask prediction and of the true mask [nm²].

        Parameters
        ----------
        threshold : float
            A pixel belongs to the object where its probability is ≥ ``threshold`` [0-1].

        Returns
        -------
        (predicted, true) : tuple of float
            Areas [nm²].
        """
        self._require("area", segmentation=True)
        pixel_area = (self.sampling / 10.0) ** 2  # [nm²]
        return (float(np.count_nonzero(self.prediction[0] >= threshold)) * pixel_area,
                float(np.count_nonzero(self.label[0] > 0.5)) * pixel_area)

    def metrics_row(self, *, radius: float = ATOMIC_F1_RADIUS, threshold: float = 0.5,
                    min_spacing: float | None = None, min_distance: float | None = None) -> dict[str, Any]:
        """The image's row of an evaluation table: what it is, and every score of its label type.

        Parameters
        ----------
        radius : float
            Atomic F1 matching radius [Å].
        threshold : float
            Probability threshold of pixels and columns [0-1].
        min_spacing : float, optional
            Smallest distance between two columns [Å] (see :meth:`atomic_f1`).
        min_distance : float, optional
            Deprecated: the same in pixels; warns.

        Returns
        -------
        dict
            :data:`META_COLUMNS` (index, epoch, sampling [Å/pixel], dose [e⁻/Å²], defocus of
            the first image [Å]), then

            - Mask: ``pixel_f1``, ``pixel_precision``, ``pixel_recall``, ``area_predicted_nm2``,
              ``area_true_nm2``;
            - Disk/Gaussian: ``pixel_f1`` and ``pixel_f1_NAME`` per class, ``atomic_f1``,
              ``atomic_precision``, ``atomic_recall``, ``atomic_f1_NAME`` per class,
              ``atomic_f1_any_class`` (detection whatever the class), ``columns_true``,
              ``columns_predicted``. A class that is neither in the label nor in the
              prediction has ``None`` in its per-class columns (no evidence either way; the
              overall F1 of an empty label and empty prediction is 1, see
              :class:`~temnn.analysis.metrics.Score`);
            - Exitwave: ``rmse``, ``rmse_real``, ``rmse_imag``;
            - with an ensemble: ``disagreement``, the mean of the disagreement map.
        """
        row: dict[str, Any] = {
            "index": self.index, "epoch": self.epoch, "sampling_angstrom": self.sampling,
            "dose_e_per_angstrom2": self.dose, "defocus_angstrom": self.defocus[0],
        }
        label = self.parameters.label
        if label == "Exitwave":
            error = self.rmse()
            row.update(rmse=error.total, rmse_real=error.real, rmse_imag=error.imag)
        else:
            pixels = self.f1_score(threshold=threshold)
            row.update(pixel_f1=pixels.f1, pixel_precision=pixels.overall.precision,
                       pixel_recall=pixels.overall.recall)
        if label == "Mask":
            row["area_predicted_nm2"], row["area_true_nm2"] = self.area(threshold=threshold)
        if label in ("Disk", "Gaussian"):
            names = self.class_names
            row.update({f"pixel_f1_{name}": _class_f1(pixels.per_class[k])
                        for k, name in zip(self.class_channels, names)})
            columns = self.atomic_f1(radius, threshold=threshold, min_spacing=min_spacing, min_distance=min_distance)
            row.update(atomic_f1=columns.overall.f1, atomic_precision=columns.overall.precision,
                       atomic_recall=columns.overall.recall)
            row.update({f"atomic_f1_{name}": _class_f1(columns.per_class.get(k, Score(0, 0, 0)))
                        for k, name in enumerate(names)})
            row.update(atomic_f1_any_class=columns.class_agnostic.f1,
                       columns_true=columns.overall.tp + columns.overall.fn,
                       columns_predicted=columns.overall.tp + columns.overall.fp)
        if self.disagreement is not None:
            row["disagreement"] = float(np.mean(self.disagreement))
        return row

    # -------------------------------------------------------------------------- plots
    def plot(self, *, path: str | os.PathLike | None = None, axes: Sequence[Any] | None = None,
             title: str | None = None, threshold: float = 0.5, min_spacing: float | None = None,
             min_distance: float | None = None) -> tuple[Any, list[Any]]:
        """The image(s), label and prediction side by side, with a scale bar.

        Every image of a focal series gets a panel. A segmentation's label and prediction are
        drawn as class maps (argmax channel, a shared colour per class); for Disk and Gaussian
        labels the columns that :meth:`atomic_f1` finds in the prediction are marked with a
        ``+`` in their class colour (a column is found where the background probability drops
        below 1 − ``threshold``, even where no single class reaches ``threshold``). An exit
        wave is drawn as its real and imaginary parts, label and prediction on the same colour
        scale.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the figure there (atomically; format from the suffix).
        axes : sequence of matplotlib axes, optional
            Draw into these (:meth:`panel_count` of them, e.g. one row of a larger figure)
            instead of a new figure.
        title : str, optional
            Text before the panel titles of the first image (e.g. "best").
        threshold, min_spacing : float
            Column detection settings for the ``+`` marks (see :meth:`atomic_f1`) [0-1], [Å].
        min_distance : float, optional
            Deprecated: ``min_spacing`` in pixels; warns.

        Returns
        -------
        (figure, axes)
        """
        import matplotlib.pyplot as plt

        from .plotting import display_map, save_figure, show_image

        panels: list[tuple[str, np.ndarray, dict[str, Any]]] = []
        for c, image in enumerate(self.image):
            defocus = self.defocus[c] if c < len(self.defocus) else float("nan")
            panels.append((f"image, Δf = {defocus:.0f} Å", image, {"cmap": "gray"}))
        if self.parameters.label == "Exitwave":
            waves = [("label", self.label)] + ([("prediction", self.prediction)] if self.prediction is not None else [])
            for part, name in ((0, "Re ψ"), (1, "Im ψ")):
                low = min(float(w[part].min()) for _, w in waves)
                high = max(float(w[part].max()) for _, w in waves)
                panels += [(f"{what}: {name}", w[part], {"cmap": "gray", "vmin": low, "vmax": high})
                           for what, w in waves]
        else:
            limits = {"cmap": "viridis", "vmin": 0, "vmax": self.label.shape[0] - 1 if self.label.shape[0] > 1 else 1}
            panels.append(("label", display_map(self.label), limits))
            if self.prediction is not None:
                panels.append(("prediction", display_map(self._thresholded()), limits))
        if axes is None:
            fig, grid = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
            axes = list(grid[0])
        else:
            axes = list(axes)
            if len(axes) != len(panels):
                raise TemnnError(f"plot: give {len(panels)} axes (panel_count()), got {len(axes)}")
            fig = axes[0].figure
        for k, (ax, (name, data, style)) in enumerate(zip(axes, panels)):
            show_image(ax, data, sampling=self.sampling if k == 0 else None, **style)
            ax.set_title(f"{title}: {name}" if title and k == 0 else name, fontsize=9)
        if self.prediction is not None and self.parameters.label in ("Disk", "Gaussian"):
            from .peaks import _find_peaks

            found = _find_peaks(self.prediction, self._column_spacing("plot", min_spacing, min_distance),
                                threshold=threshold, background=-1 if self.has_background else None)
            axes[-1].scatter(found.positions[:, 0], found.positions[:, 1], c=found.classes, marker="+", s=40,
                             linewidths=1.2, cmap="viridis", vmin=0, vmax=max(self.label.shape[0] - 1, 1))
            axes[-1].set_title(f"prediction, {len(found)} columns (+)", fontsize=9)
        if path is not None:
            fig.tight_layout()
            save_figure(fig, path)
        return fig, axes

    def panel_count(self) -> int:
        """Number of panels that :meth:`plot` draws."""
        waves = 1 + int(self.prediction is not None)
        maps = 2 * waves if self.parameters.label == "Exitwave" else waves
        return self.image.shape[0] + maps

    def plot_argand(self, *, path: str | os.PathLike | None = None, min_spacing: float | None = None,
                    threshold: float = 0.1, min_distance: float | None = None) -> tuple[Any, list[Any]]:
        """Argand plots of the predicted and the true exit wave side by side (publication I, fig. 5).

        The points are ψ at the local maxima of ``|ψ − 1|`` (:func:`~temnn.analysis.argand.argand_points`),
        coloured by the class of the nearest stored site when the dataset has sites.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the figure there (atomically).
        min_spacing : float, optional
            Smallest distance between two columns [Å]; default 1 Å.
        threshold : float
            Smallest peak as a fraction of the largest ``|ψ − 1|`` [0-1].
        min_distance : float, optional
            Deprecated: ``min_spacing`` in pixels; warns.

        Returns
        -------
        (figure, axes)
        """
        from .argand import _argand_points, plot_argand

        self._require("plot_argand", segmentation=False)
        distance = length_in_pixels("SimulatedData.plot_argand", name="min_spacing", value=min_spacing,
                                    sampling=self.sampling, old_name="min_distance", old_value=min_distance,
                                    default=1.0 / self.sampling)
        sites, classes, names = self._sites()
        known = {"sites": sites, "site_classes": classes} if len(sites) else {}
        predicted = _argand_points(self.prediction, distance, threshold=threshold, **known)
        true = _argand_points(self.label, distance, threshold=threshold, **known)
        return plot_argand(predicted, true, class_names=list(names) or None, path=path)

    def plot_disagreement(self, *, path: str | os.PathLike | None = None) -> tuple[Any, list[Any]]:
        """The ensemble's mean prediction beside its disagreement map (after :meth:`infer` with several models).

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the figure there (atomically).

        Returns
        -------
        (figure, axes)
        """
        import matplotlib.pyplot as plt

        from .plotting import display_map, save_figure, show_image

        if self.disagreement is None:
            raise TemnnError("plot_disagreement: run infer() with several models (an ensemble) first")
        panels: list[tuple[str, np.ndarray, dict[str, Any]]] = [("image", self.image[0], {"cmap": "gray"})]
        if self.parameters.label == "Exitwave":
            panels += [("mean: Im ψ", self.prediction[1], {"cmap": "gray"}),
                       ("std. dev.: Re ψ", self.disagreement[0], {"cmap": "magma"}),
                       ("std. dev.: Im ψ", self.disagreement[1], {"cmap": "magma"})]
        else:
            panels += [("mean prediction", display_map(self._thresholded()), {"cmap": "viridis"}),
                       ("disagreement (fraction of models)", self.disagreement, {"cmap": "magma", "vmin": 0})]
        fig, grid = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False)
        axes = list(grid[0])
        for k, (ax, (name, data, style)) in enumerate(zip(axes, panels)):
            artist = show_image(ax, data, sampling=self.sampling if k == 0 else None, title=name, **style)
            if k >= 2:
                fig.colorbar(artist, ax=ax, fraction=0.046, pad=0.04)
        fig.tight_layout()
        if path is not None:
            save_figure(fig, path)
        return fig, axes

    # ------------------------------------------------------------------------ helpers
    def _require(self, what: str, *, segmentation: bool) -> None:
        if self.prediction is None:
            raise TemnnError(f"{what}: no prediction yet; run infer(model) first")
        if segmentation and self.parameters.label == "Exitwave":
            raise TemnnError(f"{what}: needs a segmentation (Mask, Disk or Gaussian label), not an exit wave; "
                             "use rmse() and plot_argand()")
        if not segmentation and self.parameters.label != "Exitwave":
            raise TemnnError(f"{what}: needs an Exitwave label, not {self.parameters.label}; use f1_score()")

    def _column_spacing(self, method: str, min_spacing: float | None, min_distance: float | None) -> float:
        """The smallest column distance [pixels]: ``min_spacing`` [Å], the deprecated ``min_distance`` [pixels],
        or the disc diameter (at least one pixel)."""
        return length_in_pixels(f"SimulatedData.{method}", name="min_spacing", value=min_spacing,
                                sampling=self.sampling, old_name="min_distance", old_value=min_distance, depth=1,
                                default=max(1.0, self.parameters.spotsize / self.sampling))

    def _thresholded(self) -> np.ndarray:
        """The prediction for drawing: a single sigmoid channel as 0/1 at 0.5, class maps as they are."""
        if self.prediction.shape[0] == 1:
            return (self.prediction >= 0.5).astype(np.float32)
        return self.prediction


def _class_f1(score: Score) -> float | None:
    """F1 of one class, or None when the class is neither true nor predicted anywhere in the image."""
    return None if score.tp + score.fp + score.fn == 0 else score.f1
