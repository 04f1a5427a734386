"""What the images stage reads of one stored sample: label inputs and the first-sample check.

The data set folder (:class:`~temnn.io.dataset.Dataset`: ``waves/``, ``sites/``) is read
here, so that :mod:`temnn.simulate` stays arrays in, arrays out.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..errors import TemnnError
from ..parameters import Parameters
from ..simulate.labels import check_label_classes, resolve_mask_classes
from ..simulate.synthesis import check_sampling
from ..simulate.waves import ExitWave
from .dataset import Dataset, load_wave

__all__ = ["label_inputs", "check_dataset"]


def label_inputs(dataset: Dataset, index: int, parameters: Parameters, wave: ExitWave) -> dict[str, Any]:
    """Keyword arguments of :func:`~temnn.simulate.labels.make_label` for one sample.

    Parameters
    ----------
    dataset : temnn.Dataset
        The dataset folder holding ``waves/`` and ``sites/``.
    index : int
        Sample number.
    parameters : temnn.Parameters
        The parameters file (``label``, ``num_classes``, ``exitwave_without_support``).
    wave : temnn.ExitWave
        The sample's exit wave (the Exitwave label of a wave with its support).

    Returns
    -------
    dict
        ``wave`` and ``wave_sampling`` [Å/pixel] for an Exitwave label; ``sites`` [Å],
        ``classes`` (and ``mask_classes`` for a Mask) otherwise. The Exitwave label of a
        frozen-phonon sample (K configurations) is the mean of its K waves
        (:meth:`~temnn.simulate.waves.ExitWave.coherent`): the coherent wave, the one
        quantity of an incoherent ensemble that a single complex wave can stand for.

    Raises
    ------
    TemnnError
        The stored site classes do not fit the label (see
        :func:`~temnn.simulate.labels.check_label_classes`).
    """
    if parameters.label == "Exitwave":
        label_wave = dataset.load_wave(index, object_only=True) if parameters.exitwave_without_support else wave
        label_wave = label_wave.coherent()
        return {"wave": label_wave.array, "wave_sampling": label_wave.sampling}
    sites, classes, class_names = dataset.load_sites(index)
    check_label_classes(parameters, class_names, source=str(dataset.sites_path(index)))
    inputs: dict[str, Any] = {"sites": sites, "classes": classes}
    if parameters.label == "Mask":
        inputs["mask_classes"] = resolve_mask_classes(class_names, dataset.load_mask_classes(index))
    return inputs


def check_dataset(dataset: Dataset, index: int, parameters: Parameters) -> None:
    """Check a parameters file against the first sample of a dataset before any work starts.

    Parameters
    ----------
    dataset : temnn.Dataset
        The dataset folder (``waves/``, ``sites/``).
    index : int
        A finished sample to check against (the first one).
    parameters : temnn.Parameters
        The parameters file.

    Raises
    ------
    TemnnError
        An image sampling finer than the waves'; a site label without stored sites or
        with classes that do not fit ``num_classes``; a support-free Exitwave label
        without a stored object wave.

    Warns
    -----
    UserWarning
        The images span more than the exit waves' cell (the margin is vacuum).
    """
    p = parameters
    path = dataset.wave_path(index)
    wave = load_wave(path)
    check_sampling(p, wave.sampling, path)
    where = p.source or "parameters"
    for axis, (n_wave, ws, n_image) in enumerate(zip(wave.gpts, wave.sampling, p.image_size)):
        if (n_image - 1) * p.sampling[1] > (n_wave - 1) * ws:
            warnings.warn(
                f"{where}: 'image_size' {list(p.image_size)} at up to {p.sampling[1]:g} Å/pixel spans "
                f"{n_image * p.sampling[1]:.1f} Å along {'xy'[axis]}, more than the exit waves' "
                f"{n_wave * ws:.1f} Å ({path}); the margin is filled with vacuum. Use a smaller 'image_size' "
                "or 'sampling', or larger cells, if a network should not learn from empty margins",
                UserWarning,
                stacklevel=3,
            )
            break
    if p.label == "Exitwave" and p.exitwave_without_support:
        with np.load(path) as f:
            stored = "wave_object" in f.files
        if not stored:
            raise TemnnError(
                f"{where}: 'exitwave_without_support' is true, but {path} stores no support-free object wave; "
                "regenerate the dataset with the object wave stored or set 'exitwave_without_support': false"
            )
    if p.label != "Exitwave":
        sites_path = dataset.sites_path(index)
        if not sites_path.exists():
            raise TemnnError(
                f"{sites_path}: not found; a '{p.label}' label needs the column sites that 'temnn structures' "
                "writes beside the waves"
            )
        _, _, class_names = dataset.load_sites(index)
        check_label_classes(p, class_names, source=str(sites_path))
