"""Experimental HR-TEM data: one microscope file, its calibration and metadata, and the analysis steps.

:class:`ExperimentalData` is the thesis' ``Experimental_Data`` object (section 3.4, table A.1)
with PEP 8 names: it opens a ``.dm3/.dm4``, TIFF, Velox ``.emd``, TIA ``.emi/.ser``, ``.mrc`` or
uncalibrated PNG file (:mod:`temnn.io.microscope`), keeps the pixel size in Å and the metadata that
matters as attributes, and offers local standardisation, tiled inference with a trained model,
cropping with a mask, apodised Fourier transforms, the dose from a vacuum window and a plot with
a scale bar. Stacks are read frame by frame, so long sequences stream.

Images index ``[ix, iy]`` (abTEM's order); the file's (row = y) arrays are converted on reading.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import TemnnError
from ..checks import real_finite
from ..io.microscope import Acquisition, MicroscopeFile, read_microscope_file, signal_to_file
from ..io.models import warn_beam_energy
from ..nn.inference import predict
from ..nn.tiling import check_channels

__all__ = ["ExperimentalData", "Dose"]


@dataclass(frozen=True)
class Dose:
    """Electron dose of a frame, measured in a vacuum window.

    Parameters
    ----------
    counts_per_pixel : float
        Mean detector counts per pixel in the window [counts].
    conversion_factor : float
        Detector counts per incident electron [counts/e⁻].
    electrons_per_pixel : float
        Incident electrons per pixel [e⁻].
    dose : float
        Electrons per area [e⁻/Å²].
    dose_rate : float or None
        Dose per second [e⁻/(Å²·s)] when the exposure time is known.
    """

    counts_per_pixel: float
    conversion_factor: float
    electrons_per_pixel: float
    dose: float
    dose_rate: float | None


class ExperimentalData:
    """An experimental HR-TEM image or image stack, with calibration and metadata.

    Parameters
    ----------
    path : str or os.PathLike
        Microscope file: ``.dm3/.dm4``, ``.tif/.tiff``, ``.emd`` (Velox), ``.emi/.ser`` (TIA;
        the ``.emi`` carries the metadata), ``.mrc``, ``.png/.jpg/.bmp``.
    sampling : float, optional
        Pixel size [Å/pixel]. Required when the file has no length calibration (PNG, an
        uncalibrated TIFF) or non-square pixels; when given it replaces the file's
        calibration (with a warning if they differ).
    frame : int, optional
        The frame of a stack that :attr:`image` (and :meth:`infer`, :meth:`plot`, …) use;
        default 0.
    signal : int, optional
        Which signal of a multi-signal file; default: the first 2D image.

    Attributes
    ----------
    sampling : float
        Pixel size [Å/pixel].
    beam_energy : float or None
        Electron energy [eV].
    exposure_time : float or None
        Exposure (TEM) or frame time (STEM) of one frame [s].
    dwell_time : float or None
        Pixel dwell time of a scanned image [s].
    frame_interval : float or None
        Time between frames of a stack [s].
    beam_current : float or None
        Beam/screen current recorded by the microscope [A].
    conversion_factor : float or None
        Detector counts per incident electron [counts/e⁻] (Velox files record it).
    acquisition_date : str or None
        ISO 8601 date and time of the acquisition.
    detector, microscope : str or None
        Names as recorded in the file.
    signal_index : int
        The signal used (files may hold several); ``signal_title`` is its title.
    metadata, original_metadata : dict
        HyperSpy-style metadata and the file's raw metadata tree.
    prediction : numpy.ndarray or None
        (K, nx, ny) output of the last :meth:`infer`.
    mask : numpy.ndarray or None
        (nx, ny) region set by :meth:`crop`.

    Examples
    --------
    >>> data = ExperimentalData("image.dm4")                                  # doctest: +SKIP
    >>> data.sampling, data.beam_energy                                        # doctest: +SKIP
    (0.0817, 300000.0)
    >>> prediction = data.infer(temnn.load_model("model"))                     # doctest: +SKIP
    >>> data.plot()                                                            # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, sampling: float | None = None, frame: int | None = None,
                 signal: int | None = None) -> None:
        self._attach(read_microscope_file(path, signal=signal, sampling=sampling), frame)

    def _attach(self, file: MicroscopeFile, frame: int | None) -> None:
        """Take the frames, calibration and metadata of an opened file (or signal)."""
        self.file = file
        self.path = Path(file.path)
        if self.file.sampling is None:
            raise TemnnError(
                f"{self.path}: the file has no length calibration (its axes are in pixels); give the pixel size "
                "in Å/pixel: ExperimentalData(path, sampling=...) or `temnn predict --sampling`"
            )
        self.sampling: float = self.file.sampling
        acquisition = self.file.acquisition
        self.beam_energy = acquisition.beam_energy
        self.exposure_time = acquisition.exposure_time
        self.dwell_time = acquisition.dwell_time
        self.frame_interval = acquisition.frame_interval
        self.beam_current = acquisition.beam_current
        self.conversion_factor = acquisition.conversion_factor
        self.acquisition_date = acquisition.acquisition_date
        self.detector = acquisition.detector
        self.microscope = acquisition.microscope
        self.signal_index = self.file.signal_index
        self.signal_title = self.file.signal_title
        self.metadata = self.file.metadata
        self.original_metadata = self.file.original_metadata
        self.frame_index = 0 if frame is None else int(frame)
        self._image = self.frame(self.frame_index)  # also checks the index
        if self.frame_index < 0:
            self.frame_index += len(self)
        self.prediction: np.ndarray | None = None
        self.mask: np.ndarray | None = None

    @classmethod
    def from_hyperspy(cls, signal: Any, *, sampling: float | None = None, frame: int | None = None
                      ) -> "ExperimentalData":
        """Make experimental data of a HyperSpy ``Signal2D`` (an image or a stack of images).

        The pixel size comes from the signal's two signal axes (any length unit; Å/pixel
        here), the beam energy and other acquisition fields from its metadata, the frames
        from its navigation axes (row-major). :meth:`to_hyperspy` inverts it.

        Parameters
        ----------
        signal : hyperspy.signals.Signal2D
            The image or image stack (lazy signals stay lazy).
        sampling : float, optional
            Pixel size [Å/pixel] that replaces the signal's calibration.
        frame : int, optional
            The frame :attr:`image` uses; default 0.

        Raises
        ------
        TemnnError
            A signal that is no 2D image (stack), or without length calibration and no
            ``sampling``.
        """
        if getattr(getattr(signal, "axes_manager", None), "signal_dimension", None) != 2:
            raise TemnnError(f"from_hyperspy: expected a HyperSpy Signal2D (an image or image stack), got "
                             f"{type(signal).__name__}")
        title = str(signal.metadata.get_item("General.title", "") or "signal")
        manager = signal.axes_manager
        axes = [dict(ax.get_axis_dictionary(), navigate=ax.navigate, index_in_array=ax.index_in_array)
                for ax in (*manager.navigation_axes, *manager.signal_axes)]
        signal_dict = {"data": signal.data, "axes": axes, "metadata": signal.metadata.as_dictionary(),
                       "original_metadata": signal.original_metadata.as_dictionary()}
        file = signal_to_file(signal_dict, path=Path(f"<HyperSpy {title}>"), plugin="hyperspy", sampling=sampling)
        stored = (file.metadata.get("temnn") or {}).get("acquisition")
        if isinstance(stored, dict):  # written by to_hyperspy: the fields only some readers know
            known = {k: v for k, v in stored.items() if k in Acquisition.__dataclass_fields__}
            file.acquisition = Acquisition(**{**file.acquisition.__dict__,
                                              **{k: v for k, v in known.items() if v is not None}})
        data = cls.__new__(cls)
        data._attach(file, frame)
        return data

    def to_hyperspy(self) -> Any:
        """The frames as a HyperSpy ``Signal2D``, calibrated in nm, with the metadata.

        A stack gets a navigation axis ``frame`` (in s when the frame interval is known);
        the metadata are the file's HyperSpy-style tree plus ``temnn.acquisition`` (the
        fields of :class:`~temnn.io.microscope.Acquisition`, SI units), the original
        metadata the file's own.

        Returns
        -------
        hyperspy.signals.Signal2D
            Data ``(frames, y, x)`` as stored (or ``(y, x)`` for one image).

        Raises
        ------
        TemnnError
            HyperSpy is not installed.
        """
        try:
            from hyperspy.signals import Signal2D
        except ImportError:
            raise TemnnError("to_hyperspy: HyperSpy is not installed (pip install hyperspy)") from None
        import copy

        raw = self.file.data
        data = np.asarray(raw.compute() if hasattr(raw, "compute") else raw)
        nm = self.sampling / 10.0
        axes = [{"name": "y", "size": data.shape[1], "scale": nm, "offset": 0.0, "units": "nm", "navigate": False},
                {"name": "x", "size": data.shape[2], "scale": nm, "offset": 0.0, "units": "nm", "navigate": False}]
        if len(self) > 1:
            interval = self.frame_interval
            axes.insert(0, {"name": "frame", "size": len(self), "scale": interval or 1.0, "offset": 0.0,
                            "units": "s" if interval else "", "navigate": True})
        else:
            data = data[0]
        metadata = copy.deepcopy(dict(self.metadata))
        metadata.setdefault("temnn", {})["acquisition"] = dict(self.file.acquisition.__dict__)
        return Signal2D(data, axes=axes, metadata=metadata, original_metadata=copy.deepcopy(self.original_metadata))

    def __repr__(self) -> str:
        nx, ny = self.shape
        return (f"ExperimentalData({str(self.path)!r}, {len(self)} frame(s) of {nx}×{ny} px, "
                f"sampling={self.sampling:.4g} Å/px, frame={self.frame_index})")

    # ------------------------------------------------------------------------ frames
    def __len__(self) -> int:
        return len(self.file)

    def __iter__(self) -> Iterator[np.ndarray]:
        """The frames in order, each read when it is reached (float32, (nx, ny))."""
        for index in range(len(self)):
            yield self.frame(index)

    @property
    def shape(self) -> tuple[int, int]:
        """Frame shape (nx, ny) [pixels]."""
        return self.file.shape

    @property
    def image(self) -> np.ndarray:
        """The selected frame, float32 (nx, ny) [counts]."""
        return self._image

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` of the stack as float32 (nx, ny) [counts], read from disk now.

        Raises
        ------
        TemnnError
            The index is out of range, or the frame holds NaN or infinite values.
        """
        return real_finite(self.file.frame(index), name=f"{self.path}: frame {index}")

    # --------------------------------------------------------------------- analysis
    def local_standardise(self, *, normalizedistance: float = 12.0) -> np.ndarray:
        """The selected frame locally standardised (thesis eq. 3.1).

        Parameters
        ----------
        normalizedistance : float
            Width σ of the Gaussian window [Å] (the training sets' ``normalizedistance``).

        Returns
        -------
        numpy.ndarray
            float32 (nx, ny), locally zero-mean and unit-spread.
        """
        import torch

        from ..nn.standardise import local_standardise, standardisation_sigma

        sigma = standardisation_sigma(float(normalizedistance), self.sampling)
        return local_standardise(torch.from_numpy(self.image)[None, None], sigma)[0, 0].numpy()

    def infer(self, model: Any, *, tile: int = 512, overlap: int = 64, batch_size: int = 4, device: Any = None,
              focal_series: bool = False) -> np.ndarray:
        """Apply a trained model to the selected frame, tile by tile (see :func:`temnn.nn.inference.predict`).

        The frame is resampled to the model's training sampling when it lies outside the
        range in the model card (a warning says so; another warns when the file's beam
        energy differs from a named model's), standardised as in training, run
        through the network in overlapping tiles and the prediction brought back to the
        frame's pixel grid.

        Parameters
        ----------
        model : temnn.nn.Network
            A model from :func:`temnn.load_model`.
        tile : int
            Tile side [pixels].
        overlap : int
            Overlap of neighbouring tiles [pixels].
        batch_size : int
            Tiles per forward pass.
        device : str or torch.device, optional
            Where to run; default: where the model is.
        focal_series : bool
            For a model that takes a focal series of C images: use frames
            ``frame, …, frame + C − 1`` of the stack as the series.

        Returns
        -------
        numpy.ndarray
            float32 (K, nx, ny) prediction, also kept as :attr:`prediction`.
        """
        series = self._series(self.frame_index, model, focal_series)
        warn_beam_energy(model, self.beam_energy, source=str(self.path))
        self.prediction = self._predict(model, series, tile=tile, overlap=overlap, batch_size=batch_size, device=device)
        return self.prediction

    def infer_frames(self, model: Any, *, frames: Iterable[int] | None = None, tile: int = 512, overlap: int = 64,
                     batch_size: int = 4, device: Any = None, focal_series: bool = False
                     ) -> Iterator[tuple[int, np.ndarray]]:
        """Stream the frames of the stack through a model, one frame in memory at a time.

        Parameters
        ----------
        model : temnn.nn.Network
            A model from :func:`temnn.load_model`.
        frames : iterable of int, optional
            Frame indices (series starts with ``focal_series``); default all (every C-th).
        tile, overlap, batch_size, device, focal_series
            As for :meth:`infer`.

        Yields
        ------
        (int, numpy.ndarray)
            Frame index and its float32 (K, nx, ny) prediction.
        """
        step = int(getattr(model, "in_channels", 1)) if focal_series else 1
        check_channels(model, step, source=str(self.path))  # now, not at the first frame
        warn_beam_energy(model, self.beam_energy, source=str(self.path))
        indices = range(0, len(self) - step + 1, step) if frames is None else [int(i) for i in frames]

        def stream() -> Iterator[tuple[int, np.ndarray]]:
            for index in indices:
                series = self._series(index, model, focal_series)
                yield index, self._predict(model, series, tile=tile, overlap=overlap, batch_size=batch_size,
                                           device=device)

        return stream()

    def _predict(self, model: Any, series: np.ndarray, **options: Any) -> np.ndarray:
        """:func:`temnn.nn.inference.predict` on one (nx, ny) frame or (C, nx, ny) series, resampled to the card's range."""
        series = np.asarray(series, dtype=np.float32)
        return predict(model, series if series.ndim == 3 else series[None], sampling=self.sampling, resample=True,
                       source=str(self.path), **options)

    def _series(self, start: int, model: Any, focal_series: bool) -> np.ndarray:
        """The network input starting at frame ``start``: one frame, or a focal series of C frames."""
        if not focal_series:
            check_channels(model, 1, source=str(self.path))
            return self.image if start == self.frame_index else self.frame(start)
        channels = int(getattr(model, "in_channels", 1))
        if start < 0 or start + channels > len(self):
            raise TemnnError(
                f"{self.path}: a focal series of {channels} frames starting at frame {start} does not fit in "
                f"the {len(self)} frame(s) of the file"
            )
        return np.stack([self.frame(k) for k in range(start, start + channels)])

    def crop(self, mask: np.ndarray | None = None, *, threshold: float = 0.5, channel: int = 0) -> np.ndarray:
        """Crop the region of interest (e.g. a nanoparticle) with a mask segmentation.

        Parameters
        ----------
        mask : numpy.ndarray, optional
            (nx, ny) boolean region; default: ``prediction[channel] > threshold`` of the last
            :meth:`infer` (a Mask model's particle channel).
        threshold : float
            Probability above which a pixel belongs to the region [1].
        channel : int
            Prediction channel that holds the region.

        Returns
        -------
        numpy.ndarray
            float32 image inside the region's bounding box [counts]; the mask is kept as
            :attr:`mask` and :meth:`fft` then transforms only the region.
        """
        if mask is None:
            if self.prediction is None:
                raise TemnnError("crop: give a mask, or run infer() with a mask-segmentation model first")
            if not 0 <= channel < self.prediction.shape[0]:
                raise TemnnError(f"crop: channel must be in [0, {self.prediction.shape[0]}), got {channel}")
            mask = self.prediction[channel] > threshold
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            raise TemnnError(f"crop: mask must have the frame's shape {self.shape} (nx, ny), got {mask.shape}")
        if not mask.any():
            raise TemnnError("crop: the mask is empty (no pixel above the threshold); nothing to crop")
        self.mask = mask
        ix, iy = np.nonzero(mask)
        return self.image[ix.min():ix.max() + 1, iy.min():iy.max() + 1].copy()

    def fft(self, *, sigma: float = 2.0, size: int | None = None) -> np.ndarray:
        """Power spectrum of the frame, or of the region set by :meth:`crop`, with a Gaussian apodisation.

        The region's edge (the frame border without a crop) is softened by a Gaussian of
        ``sigma`` pixels so that it does not streak the transform
        (:func:`~temnn.analysis.fourier.apodised_power_spectrum`).

        Parameters
        ----------
        sigma : float
            Standard deviation of the apodisation edge [pixels]: a filter on the pixel grid
            of the transform, like ``size`` (see the units section of the physics conventions).
        size : int, optional
            Side of the square transform [pixels]; default: the region's bounding box plus
            3σ on each side, rounded up to a fast FFT size.

        Returns
        -------
        numpy.ndarray
            (size, size) fftshifted power spectrum; zero frequency at (size // 2, size // 2),
            one pixel is 1 / (size · sampling) [1/Å].
        """
        from .fourier import apodised_power_spectrum, crop_size

        mask = self.mask if self.mask is not None else np.ones(self.shape, dtype=bool)
        if size is None:
            size = crop_size([mask.astype(np.int8)], 1, pad=int(math.ceil(3 * sigma)), oversample=1.0)
        return apodised_power_spectrum(self.image, mask, size=int(size), sigma=sigma)

    def compute_dose(self, corner: tuple[int, int], size: int | tuple[int, int], *,
                     conversion_factor: float | None = None) -> Dose:
        """Electron dose of the selected frame from a vacuum window.

        Dose = mean counts per pixel / conversion factor / pixel area. The frame must be in
        detector counts (dark-subtracted, gain-normalised), as cameras record it.

        Parameters
        ----------
        corner : (int, int)
            First pixel (ix, iy) of the window [pixels].
        size : int or (int, int)
            Window side(s) (nx, ny) [pixels]; pick an area of vacuum.
        conversion_factor : float, optional
            Detector counts per incident electron [counts/e⁻]; default: the file's
            (:attr:`conversion_factor`).

        Returns
        -------
        Dose
            Counts and electrons per pixel, dose [e⁻/Å²] and dose rate [e⁻/(Å²·s)].
        """
        factor = self.conversion_factor if conversion_factor is None else conversion_factor
        if factor is None:
            raise TemnnError(
                f"{self.path}: the file records no detector conversion factor; pass conversion_factor= "
                "in counts per electron (from the camera's calibration)"
            )
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
            raise TemnnError(f"conversion_factor: expected a positive number of counts per electron, got {factor!r}")
        sx, sy = (size, size) if np.isscalar(size) else size
        x0, y0 = corner
        nx, ny = self.shape
        if not (0 <= x0 and 0 <= y0 and 0 < sx and 0 < sy and x0 + sx <= nx and y0 + sy <= ny):
            raise TemnnError(
                f"compute_dose: window at corner {tuple(corner)} of size ({sx}, {sy}) px does not fit in the "
                f"{nx}×{ny} px frame; choose a vacuum window inside the image"
            )
        counts = float(np.mean(self.image[int(x0):int(x0 + sx), int(y0):int(y0 + sy)], dtype=np.float64))
        electrons = counts / float(factor)
        dose = electrons / self.sampling**2
        rate = dose / self.exposure_time if self.exposure_time else None
        return Dose(counts_per_pixel=counts, conversion_factor=float(factor), electrons_per_pixel=electrons,
                    dose=dose, dose_rate=rate)

    def plot(self, *, path: str | os.PathLike | None = None) -> tuple[Any, list[Any]]:
        """The selected frame with a scale bar, and its prediction beside it after :meth:`infer`.

        Parameters
        ----------
        path : str or os.PathLike, optional
            Save the figure there (format from the suffix).

        Returns
        -------
        (figure, axes)
        """
        from .plotting import plot_side_by_side

        title = self.path.name if len(self) == 1 else f"{self.path.name}, frame {self.frame_index}"
        return plot_side_by_side(self.image, prediction=self.prediction, sampling=self.sampling,
                                 titles=(title, "label", "prediction"), path=path)
