"""Exit waves: plane-wave multislice through an atomic model with abTEM.

One function, :func:`exit_wave`, turns an :class:`ase.Atoms` into the complex
exit wave that every later stage (images, labels, exit-wave targets) starts from.
The settings that decide the physics live in :class:`WaveSettings` and are
recorded with every data set.

Conventions (those of abTEM, so an :class:`ExitWave` converts to ``abtem.Waves``
without transposing):

* arrays index ``(x, y)``: ``array[ix, iy]`` is the wave at the position
  ``(ix * sx, iy * sy)`` [Å] in the frame of the atoms' cell;
* ``sampling = (sx, sy)`` [Å/pixel] and ``extent = (Lx, Ly)`` [Å];
* the incident plane wave has amplitude 1, so vacuum has intensity 1.

Speed (DESIGN.md, "Measured traps"): one multislice is FFT bound, and FFT sizes
with a large prime factor are several times slower (1018 × 992 was 2.8× slower
than 1024²). The grid is therefore the smallest one at or finer than the asked
sampling whose sizes factor into 2, 3, 5 and 7; the sampling actually used is
``extent / gpts`` and is stored with the wave.

Vacuum: with the infinite projection a slice holding no atom centre transmits
the wave unchanged, and Fresnel propagators compose exactly, P(a)·P(b) = P(a+b).
Runs of such slices are therefore merged into one slice (see
``WaveSettings.merge_empty_slices``): a flat 2D flake in 36 slices of 0.2 Å needs
8 instead, with the same wave up to abTEM's antialias taper (below).

Determinism: FFTW chooses its algorithm by timing trial runs under
``FFTW_MEASURE`` (abTEM's default), so two processes can pick different plans
that round differently (measured here: 4 different results in 6 processes for
one 1024 × 1000 transform). :func:`exit_wave` plans with ``FFTW_ESTIMATE`` on one
thread, which makes the result a function of the atoms and settings alone,
whatever process or machine load computes it. ``FFTW_ESTIMATE`` picks poor plans
for large powers of two (measured 3-17× slower than ``FFTW_MEASURE`` for 256² to
2048², against 1.0-1.9× for other sizes), so grids avoid those sizes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import TemnnError

if TYPE_CHECKING:  # abTEM takes ~5 s to import; load it only when a wave is computed
    import abtem
    from ase import Atoms

    from .draw import MicroscopeParameters

__all__ = [
    "WaveSettings",
    "ExitWave",
    "exit_wave",
    "SliceConvergence",
    "converge_slice_thickness",
    "image_noise_ratio",
    "build_potential",
    "slice_thicknesses",
    "fft_friendly_size",
    "wave_grid",
]

PROJECTIONS = ("infinite", "finite")
PARAMETRIZATIONS = ("kirkland", "lobato")
_FFT_PRIMES = (2, 3, 5, 7)


@dataclass(frozen=True)
class WaveSettings:
    """Physics settings of one exit-wave simulation (recorded in the data set's manifest).

    Parameters
    ----------
    energy : float
        Acceleration energy [eV]; 50e3 for 2D flakes, 300e3 for supported particles.
    sampling : float
        Largest acceptable lateral sampling [Å/pixel] (thesis publication I: 0.05 Å).
        The grid actually used is the next FFT-friendly size, so the stored sampling
        is ``extent / gpts`` ≤ ``sampling``. Ignored when ``gpts`` is given.
    gpts : tuple of int, optional
        Explicit grid ``(nx, ny)`` [pixels]; overrides ``sampling``.
    slice_thickness : float
        Multislice slice thickness [Å] (publication I: 0.2 Å).
    projection : {"infinite", "finite"}
        abTEM's potential projection. "infinite" puts each atom's infinitely projected
        potential into the slice holding its centre (fast); "finite" integrates the 3D
        potential between slice boundaries (~10× slower, needed for thick slices only).
    parametrization : {"kirkland", "lobato"}
        Radial atomic potential. Kirkland is what the thesis used (abTEM 1.0 defaults
        to Lobato; the two differ by a fraction of a percent in the projected potential).
    merge_empty_slices : bool
        Merge runs of slices without atom centres into one slice (infinite projection
        only). Exact up to abTEM's antialias aperture taper, which abTEM applies once
        per slice: merging applies it fewer times (max ``|Δψ|`` ≈ 5e-3 at the band limit
        for a MoS₂ flake; with a hard aperture the waves agree to float32 precision).
    debye_waller : float, optional
        Mean-square displacement ⟨u²⟩ along each direction [Å²] (publication I eq. 1;
        0.0030 Å² for MoS₂ at 300 K). The projected potential of every atom is smeared
        by a Gaussian of standard deviation σ = √⟨u²⟩ in x and in y, i.e. its
        scattering factor is multiplied by the Debye-Waller factor exp(−2π²⟨u²⟩k²)
        (= exp(−B s²) with B = 8π²⟨u²⟩, s = k/2). ``None`` for sharp atoms.

    Notes
    -----
    abTEM 1.0 applies a static Gaussian smearing through the ``sigmas`` of its
    parametrizations, but only in the infinite projection; with
    ``projection="finite"`` it is silently ignored, so that combination is refused.
    A frozen-phonon average would model the same blur at ~N times the cost and
    with sampling noise; the thesis (publication I) used the static smearing.
    """

    energy: float = 50e3
    sampling: float = 0.05
    gpts: tuple[int, int] | None = None
    slice_thickness: float = 0.2
    projection: str = "infinite"
    parametrization: str = "kirkland"
    merge_empty_slices: bool = True
    debye_waller: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if not _positive(self.energy):
            problems.append(f"'energy' must be a positive number in eV (e.g. 50e3), got {self.energy!r}")
        if not _positive(self.sampling):
            problems.append(f"'sampling' must be a positive number in Å/pixel (e.g. 0.05), got {self.sampling!r}")
        if self.gpts is not None:
            gpts = tuple(self.gpts) if isinstance(self.gpts, (list, tuple)) else (self.gpts,)
            if len(gpts) != 2 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in gpts):
                problems.append(f"'gpts' must be null or two positive integers (nx, ny), got {self.gpts!r}")
            else:
                object.__setattr__(self, "gpts", (int(gpts[0]), int(gpts[1])))
        if not _positive(self.slice_thickness):
            problems.append(
                f"'slice_thickness' must be a positive number in Å (e.g. 0.2), got {self.slice_thickness!r}"
            )
        if self.projection not in PROJECTIONS:
            problems.append(f"'projection' must be one of {', '.join(PROJECTIONS)}, got {self.projection!r}")
        if self.parametrization not in PARAMETRIZATIONS:
            problems.append(
                f"'parametrization' must be one of {', '.join(PARAMETRIZATIONS)}, got {self.parametrization!r}"
            )
        if not isinstance(self.merge_empty_slices, bool):
            problems.append(f"'merge_empty_slices' must be true or false, got {self.merge_empty_slices!r}")
        if self.debye_waller is not None:
            if not (_positive(self.debye_waller) or self.debye_waller == 0):
                problems.append(
                    f"'debye_waller' must be null or a non-negative ⟨u²⟩ in Å² (e.g. 0.003), got {self.debye_waller!r}"
                )
            elif self.debye_waller > 0 and self.projection == "finite":
                problems.append(
                    "'debye_waller' smearing needs projection 'infinite' "
                    "(abTEM 1.0 ignores the smearing in the finite projection)"
                )
        if problems:
            raise TemnnError("wave settings: " + "; ".join(problems))
        for name in ("energy", "sampling", "slice_thickness"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.debye_waller is not None:
            object.__setattr__(self, "debye_waller", float(self.debye_waller))

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dictionary (``gpts`` as a list or None)."""
        d = asdict(self)
        d["gpts"] = list(self.gpts) if self.gpts is not None else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WaveSettings:
        """Settings from :meth:`to_dict` output; unknown keys raise :class:`TemnnError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise TemnnError(
                f"wave settings: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"
            )
        d = dict(d)
        if d.get("gpts") is not None:
            d["gpts"] = tuple(d["gpts"])
        return cls(**d)


@dataclass(frozen=True, eq=False)
class ExitWave:
    """A complex exit wave on a periodic grid, or one per frozen-phonon configuration.

    Attributes
    ----------
    array : numpy.ndarray
        complex64 (nx, ny), or (K, nx, ny) for the waves of K frozen-phonon
        configurations of one structure; ``array[..., ix, iy]`` is the wave at
        ``(ix·sx, iy·sy)`` [Å]. Images average the *intensities* of the K waves
        (:func:`temnn.simulate.images.form_images`).
    sampling : tuple of float
        ``(sx, sy)`` [Å/pixel].
    energy : float
        Acceleration energy [eV].
    """

    array: np.ndarray
    sampling: tuple[float, float]
    energy: float

    def __post_init__(self) -> None:
        if np.ndim(self.array) not in (2, 3):
            raise TemnnError(
                f"exit wave: expected a complex (nx, ny) array or (K, nx, ny) for K frozen-phonon "
                f"configurations, got shape {np.shape(self.array)}"
            )

    @property
    def gpts(self) -> tuple[int, int]:
        """Grid size ``(nx, ny)`` [pixels]."""
        return (int(self.array.shape[-2]), int(self.array.shape[-1]))

    @property
    def configurations(self) -> int:
        """Number of frozen-phonon configurations K (1 for a plain (nx, ny) wave)."""
        return 1 if self.array.ndim == 2 else int(self.array.shape[0])

    def coherent(self) -> ExitWave:
        """The mean of the configurations' waves (the wave itself when there is one).

        The coherent part of the exit wave: what interferes with the incident beam.
        Its intensity lacks the thermal diffuse scattering, so images are never formed
        from it; it is the Exitwave label of a frozen-phonon sample.

        Returns
        -------
        ExitWave
            complex64 (nx, ny), same sampling and energy.
        """
        if self.array.ndim == 2:
            return self
        mean = self.array.astype(np.complex128).mean(axis=0).astype(np.complex64)
        return ExitWave(array=mean, sampling=self.sampling, energy=self.energy)

    @property
    def extent(self) -> tuple[float, float]:
        """Periodic extent ``(Lx, Ly)`` [Å]."""
        return (self.gpts[0] * self.sampling[0], self.gpts[1] * self.sampling[1])

    def to_abtem(self) -> abtem.Waves:
        """The wave as an :class:`abtem.Waves` (same array, sampling and energy; K configurations as an ensemble axis)."""
        import abtem

        return abtem.Waves(self.array, energy=self.energy, sampling=self.sampling)


def fft_friendly_size(n: float) -> int:
    """Smallest integer ≥ ``n`` whose prime factors are all 2, 3, 5 or 7, other than 2^k ≥ 256.

    Parameters
    ----------
    n : float
        Lower bound on the size [pixels]; a relative excess of 1e-9 is taken as
        rounding (``10 / 0.1`` gives 100, not 101).

    Returns
    -------
    int
        The grid size [pixels].

    Notes
    -----
    ``scipy.fft.next_fast_len`` also admits 11 (pocketfft's radices) and cannot skip
    powers of two; FFTW, which abTEM uses, is slower for 11 and 13, and its
    deterministic ``FFTW_ESTIMATE`` plans are 3-17× slower for 256, 512, 1024 and
    2048 (module notes), hence this short search.

    Examples
    --------
    >>> fft_friendly_size(1018), fft_friendly_size(992), fft_friendly_size(127.2)
    (1029, 1000, 128)
    """
    size = max(1, math.ceil(n * (1 - 1e-9)))
    while True:
        rest = size
        for p in _FFT_PRIMES:
            while rest % p == 0:
                rest //= p
        is_large_power_of_two = size >= 256 and size & (size - 1) == 0
        if rest == 1 and not is_large_power_of_two:
            return size
        size += 1


def wave_grid(extent: tuple[float, float], settings: WaveSettings) -> tuple[int, int]:
    """Grid ``(nx, ny)`` [pixels] that :func:`exit_wave` uses for a cell of ``extent`` [Å].

    ``settings.gpts`` when given, else the FFT-friendly sizes at or above
    ``extent / settings.sampling`` (so the sampling used is never coarser than asked).
    """
    if settings.gpts is not None:
        return settings.gpts
    return (
        fft_friendly_size(extent[0] / settings.sampling),
        fft_friendly_size(extent[1] / settings.sampling),
    )


def slice_thicknesses(atoms: Atoms, settings: WaveSettings) -> tuple[float, ...]:
    """Thickness of each multislice slice [Å], from the entrance surface (z = 0) down.

    The cell height is cut into ``ceil(height / slice_thickness)`` equal slices, as
    abTEM does; with ``merge_empty_slices`` (infinite projection only) each run of
    slices holding no atom centre becomes one slice of the run's total thickness.

    Parameters
    ----------
    atoms : ase.Atoms
        The system in an orthogonal cell [Å].
    settings : WaveSettings
        ``slice_thickness`` [Å], ``projection`` and ``merge_empty_slices``.

    Returns
    -------
    tuple of float
        Slice thicknesses [Å]; they sum to the cell height.
    """
    height = float(atoms.cell[2, 2])
    count = math.ceil(height / settings.slice_thickness)
    thickness = height / count
    if not settings.merge_empty_slices or settings.projection != "infinite" or len(atoms) == 0:
        return (thickness,) * count
    z = np.mod(atoms.positions[:, 2], height)  # abTEM wraps atoms into the cell
    occupied = np.zeros(count, dtype=bool)
    # An atom within rounding distance of a slice boundary keeps both neighbours
    # unmerged, so abTEM places it in a thin slice whichever side it rounds to.
    for shift in (-1e-6, 0.0, 1e-6):
        occupied[np.clip(np.floor((z + shift) / thickness).astype(int), 0, count - 1)] = True
    thicknesses: list[float] = []
    run = 0
    for filled in occupied:
        if filled:
            if run:
                thicknesses.append(run * thickness)
                run = 0
            thicknesses.append(thickness)
        else:
            run += 1
    if run:
        thicknesses.append(run * thickness)
    return tuple(thicknesses)


def build_potential(atoms: Atoms, settings: WaveSettings | None = None) -> abtem.Potential:
    """The abTEM potential :func:`exit_wave` propagates through (built lazily by abTEM).

    Parameters
    ----------
    atoms : ase.Atoms
        The system; its cell must be orthogonal [Å].
    settings : WaveSettings, optional
        The defaults when None.

    Returns
    -------
    abtem.Potential
        On the grid of :func:`wave_grid`, sliced as :func:`slice_thicknesses` says, with
        the parametrization smeared by the Debye-Waller σ = √⟨u²⟩ [Å] when asked.
    """
    import abtem
    from abtem.parametrizations import KirklandParametrization, LobatoParametrization

    settings = settings or WaveSettings()
    gpts = wave_grid(_orthogonal_extent(atoms), settings)
    parametrization_type = {"kirkland": KirklandParametrization, "lobato": LobatoParametrization}
    sigma = math.sqrt(settings.debye_waller) if settings.debye_waller else None
    return abtem.Potential(
        atoms,
        gpts=gpts,
        slice_thickness=slice_thicknesses(atoms, settings),
        projection=settings.projection,
        parametrization=parametrization_type[settings.parametrization](sigmas=sigma),
    )


def exit_wave(atoms: Atoms, settings: WaveSettings | None = None) -> ExitWave:
    """Exit wave of a plane wave after multislice through ``atoms``.

    Parameters
    ----------
    atoms : ase.Atoms
        The system. Its cell must be orthogonal with the beam along z; the cell's
        x and y lengths [Å] are the periodic extent of the wave.
    settings : WaveSettings, optional
        Energy, sampling, slicing and potential; the defaults when None.

    Returns
    -------
    ExitWave
        complex64 wave on the grid :func:`wave_grid` picks, with the sampling
        actually used (``extent / gpts``) [Å/pixel] and the energy [eV].

    Notes
    -----
    ``abtem.PlaneWave(energy=...).multislice(build_potential(atoms, settings))``,
    computed eagerly (no Dask graph: a single wave gains nothing from one) with FFTW
    planned deterministically on one thread. Parallelism belongs across samples
    (:func:`temnn.workflows.runner.run_samples`).

    Examples
    --------
    >>> from ase import Atoms
    >>> atoms = Atoms("Au", positions=[(5, 5, 2)], cell=[10, 10, 4])
    >>> wave = exit_wave(atoms, WaveSettings(energy=300e3, sampling=0.1))
    >>> wave.gpts, wave.array.dtype
    ((100, 100), dtype('complex64'))
    """
    import abtem

    settings = settings or WaveSettings()
    extent = _orthogonal_extent(atoms)
    with abtem.config.set(
        {"fftw.planning_effort": "FFTW_ESTIMATE", "fftw.threads": 1, "fft": "fftw", "device": "cpu"}
    ):
        potential = build_potential(atoms, settings)
        waves = abtem.PlaneWave(energy=settings.energy).multislice(potential, lazy=False)
    gpts = potential.gpts
    array = np.asarray(waves.array, dtype=np.complex64)
    return ExitWave(array=array, sampling=(extent[0] / gpts[0], extent[1] / gpts[1]), energy=settings.energy)


@dataclass(frozen=True)
class SliceConvergence:
    """The slice thickness :func:`converge_slice_thickness` chose, and the evidence.

    Attributes
    ----------
    slice_thickness : float
        The thickest candidate whose wave is within ``tolerance`` of the reference [Å];
        the reference itself when none is.
    reference : float
        Slice thickness of the reference wave [Å].
    tolerance : float
        Wave criterion: largest accepted max |ψ - ψ_ref| [1, vacuum amplitude 1]; image
        criterion: largest accepted max |I - I_ref| / σ_shot [1].
    band : float or None
        Spatial frequency up to which the waves are compared [1/Å]; None for the
        whole grid (and for the image criterion).
    differences : tuple of (float, float)
        (thickness [Å], max |ψ - ψ_ref| or max |I - I_ref| / σ_shot) of every candidate
        computed, thickest first.
    dose : float or None
        Image criterion: the dose whose shot noise σ_shot is [e⁻/Å²]; None for the wave
        criterion.
    microscopes : tuple of MicroscopeParameters
        Image criterion: the conditions the images were formed at; empty for the wave
        criterion.
    sampling : float or None
        Image criterion with sampling candidates: the coarsest wave sampling that passes
        at the chosen thickness [Å/pixel] (the reference's when none does); None when
        the sampling was not searched.
    reference_sampling : float or None
        The wave sampling of the reference [Å/pixel] when the sampling was searched.
    sampling_differences : tuple of (float, float)
        (wave sampling [Å/pixel], max |I - I_ref| / σ_shot) of every sampling candidate
        computed, coarsest first.
    """

    slice_thickness: float
    reference: float
    tolerance: float
    band: float | None
    differences: tuple[tuple[float, float], ...]
    dose: float | None = None
    microscopes: tuple[MicroscopeParameters, ...] = ()
    sampling: float | None = None
    reference_sampling: float | None = None
    sampling_differences: tuple[tuple[float, float], ...] = ()

    @property
    def criterion(self) -> str:
        """``"wave"`` (max |Δψ|) or ``"image"`` (max |ΔI| / σ_shot)."""
        return "wave" if self.dose is None else "image"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (for the data set's manifest)."""
        if self.criterion == "image":
            record = {
                "slice_thickness": self.slice_thickness,
                "reference_slice_thickness": self.reference,
                "criterion": "image",
                "tolerance": self.tolerance,
                "dose": self.dose,
                "max_noise_ratio": [list(pair) for pair in self.differences],
                "microscopes": [m.to_dict() for m in self.microscopes],
            }
            if self.sampling is not None:
                record.update(sampling=self.sampling, reference_sampling=self.reference_sampling,
                              max_noise_ratio_by_sampling=[list(pair) for pair in self.sampling_differences])
            return record
        return {
            "slice_thickness": self.slice_thickness,
            "reference_slice_thickness": self.reference,
            "tolerance": self.tolerance,
            "band_per_angstrom": self.band,
            "max_abs_difference": [list(pair) for pair in self.differences],
        }


def image_noise_ratio(
    reference: ExitWave,
    test: ExitWave,
    microscopes: Sequence[MicroscopeParameters],
    dose: float = 1e3,
) -> float:
    """Largest image difference of two exit waves in units of the shot noise at ``dose``.

    Both waves (same cell; their samplings may differ) are imaged noise-free by
    :func:`temnn.simulate.images.form_images` under each microscope (CTF with its
    envelopes, blur, resampling onto image pixels of size s covering the whole cell;
    no MTF, readout or shot noise). A pixel of normalised intensity I (vacuum 1)
    collects N = I·D·s² electrons at dose D, with Poisson standard deviation √N,
    so the shot noise of the normalised intensity is

        σ = √(I_ref·D·s²) / (D·s²) = √(I_ref / (D·s²)),

    and the result is max |I_test - I_ref| / σ over every pixel, image of each focal
    series and microscope. Below 1, no pixel of any image differs by more than one
    standard deviation of the noise a single exposure at dose D carries: a recorded
    image could not tell the two waves apart pixel by pixel. The maximum (rather than
    a mean or a fraction of pixels) makes the bound hold at the atomic columns, where
    the slicing error concentrates and which a network must locate. It is a per-pixel
    bound: a difference of the same sign over k pixels (a column's few dozen) could be
    detected at up to √k times the ratio by a test that knows where to look. The ratio
    grows as √D, so a result r at dose D reaches 1 at D / r².

    Parameters
    ----------
    reference, test : ExitWave
        The waves, of the same periodic extent [Å]; I_ref is that of ``reference``.
    microscopes : sequence of MicroscopeParameters
        Imaging conditions (e.g. :func:`temnn.simulate.draw.least_damped_microscopes`);
        their dose, MTF and readout are ignored.
    dose : float
        Electron dose D [e⁻/Å²] (default 10³).

    Returns
    -------
    float
        max |ΔI| / σ [1]; infinite where I_ref = 0 and the intensities differ.
    """
    import torch

    from .geometry import ImageGeometry
    from .images import form_images

    if not _positive(dose):
        raise TemnnError(f"image noise ratio: 'dose' must be a positive number of e⁻/Å² (e.g. 1000), got {dose!r}")
    if not np.allclose(reference.extent, test.extent, rtol=1e-6):
        raise TemnnError(
            f"image noise ratio: the waves must cover one cell, got extents {reference.extent} and {test.extent} Å"
        )
    worst = 0.0
    for micro in microscopes:
        micro = replace(micro, dose=None, mtf=None, readout=None)
        s = micro.sampling
        shape = (int(reference.extent[0] / s * (1 + 1e-9)), int(reference.extent[1] / s * (1 + 1e-9)))
        geometry = ImageGeometry(sampling=s, origin=(0.0, 0.0), shape=shape)
        ref_image, test_image = (
            form_images(torch.from_numpy(w.array)[None], w.sampling, [micro], [geometry]).double().numpy()
            for w in (reference, test)
        )
        sigma = np.sqrt(np.clip(ref_image, 0.0, None) / (dose * s**2))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(test_image == ref_image, 0.0, np.abs(test_image - ref_image) / sigma)
        worst = max(worst, float(ratio.max()))
    return worst


def converge_slice_thickness(
    atoms: Atoms,
    settings: WaveSettings | None = None,
    *,
    tolerance: float | None = None,
    reference: float = 0.2,
    candidates: tuple[float, ...] = (2.0, 1.0, 0.5, 0.4, 0.3),
    band: float | None = None,
    microscopes: Sequence[MicroscopeParameters] | None = None,
    dose: float = 1e3,
    samplings: tuple[float, ...] = (),
) -> SliceConvergence:
    """The thickest slices whose exit wave is within ``tolerance`` of the ``reference`` slicing.

    Computes the wave of ``atoms`` with ``reference`` slices, then with each candidate
    thicker than it, thickest first, and stops at the first that passes the criterion:

    * wave criterion (``microscopes`` None): max |ψ - ψ_ref| (over the grid, or over
      spatial frequencies ≤ ``band``) below ``tolerance`` (default 1e-3);
    * image criterion (``microscopes`` given): the images differ by less than
      ``tolerance`` (default 1) standard deviations of the shot noise at ``dose``
      in every pixel, max |I - I_ref| / σ < tolerance (:func:`image_noise_ratio`).

    With the image criterion and ``samplings``, the coarser wave samplings are then
    tried at the chosen thickness, coarsest first, against the same reference, and the
    first that passes is chosen too: an image whose transfer (temporal envelope, blur,
    pixel size) ends far below the wave's band limit does not need the finer wave.

    Parameters
    ----------
    atoms : ase.Atoms
        A representative system (e.g. the first sample of a data set).
    settings : WaveSettings, optional
        All other settings (energy, sampling, projection, ...); defaults when None.
    tolerance : float, optional
        Largest accepted max |ψ - ψ_ref| [1, vacuum amplitude 1] (default 1e-3), or with
        ``microscopes`` the largest accepted max |I - I_ref| / σ [1] (default 1).
    reference : float
        Slice thickness of the reference [Å] (publication I: 0.2 Å).
    candidates : tuple of float
        Thicker slicings to try [Å]; those ≤ ``reference`` are ignored.
    band : float, optional
        Wave criterion only: compare only spatial frequencies ≤ ``band`` [1/Å] (e.g.
        what an objective aperture or the temporal envelope passes); None compares the
        whole waves.
    microscopes : sequence of MicroscopeParameters, optional
        Imaging conditions of the image criterion (e.g.
        :func:`temnn.simulate.draw.least_damped_microscopes` of the data set's parameters file).
    dose : float
        Dose of the image criterion's shot noise [e⁻/Å²] (default 10³).
    samplings : tuple of float
        Image criterion only: coarser wave samplings to try [Å/pixel]; those not
        coarser than ``settings.sampling`` or coarser than the finest image sampling of
        ``microscopes`` are ignored (the image stage refuses images finer than their
        wave, :func:`temnn.simulate.synthesis.check_sampling`).

    Returns
    -------
    SliceConvergence
        The chosen thickness and the difference of every candidate computed.

    Notes
    -----
    With the infinite projection the slicing error of a heavy-atom system is first
    order in the thickness and large: for Au on CeO₂ at 300 keV, 0.3 Å slices differ
    from 0.2 Å ones by max |Δψ| ≈ 0.1, and 0.2 Å from 0.05 Å by ≈ 0.09
    (``benchmarks/waves_accuracy.py``), so a wave tolerance of 1e-3 keeps the reference.
    """
    settings = settings or WaveSettings()
    images = microscopes is not None
    if tolerance is None:
        tolerance = 1.0 if images else 1e-3
    if not (_positive(tolerance) and _positive(reference)):
        raise TemnnError(
            f"slice convergence: tolerance and reference must be positive (e.g. 1e-3 and 0.2 Å), "
            f"got {tolerance!r} and {reference!r}"
        )
    if images and band is not None:
        raise TemnnError("slice convergence: 'band' belongs to the wave criterion; the image criterion's "
                         "band is the microscopes' transfer")
    if samplings and not images:
        raise TemnnError("slice convergence: wave 'samplings' are chosen by the image criterion only (give microscopes)")
    if samplings and settings.gpts is not None:
        raise TemnnError("slice convergence: wave 'samplings' cannot be searched with explicit 'gpts'")
    if images and not _positive(dose):
        raise TemnnError(f"slice convergence: 'dose' must be a positive number of e⁻/Å² (e.g. 1000), got {dose!r}")
    ref = exit_wave(atoms, replace(settings, slice_thickness=reference))
    keep = None
    if band is not None:
        kx = np.fft.fftfreq(ref.gpts[0], ref.sampling[0])
        ky = np.fft.fftfreq(ref.gpts[1], ref.sampling[1])
        keep = kx[:, None] ** 2 + ky[None, :] ** 2 <= band**2
    evidence: dict[str, Any] = {"dose": float(dose), "microscopes": tuple(microscopes)} if images else {}

    def difference(test_settings: WaveSettings) -> float:
        test = exit_wave(atoms, test_settings)
        if images:
            return image_noise_ratio(ref, test, evidence["microscopes"], dose)
        delta = test.array - ref.array
        if keep is not None:
            delta = np.fft.ifft2(np.fft.fft2(delta) * keep)
        return float(np.abs(delta).max())

    chosen, differences = float(reference), []
    for thickness in sorted((float(c) for c in candidates if c > reference), reverse=True):
        differences.append((thickness, difference(replace(settings, slice_thickness=thickness))))
        if differences[-1][1] < tolerance:
            chosen = thickness
            break
    if samplings:
        finest_image = min(m.sampling for m in evidence["microscopes"])
        tried = []
        evidence.update(sampling=settings.sampling, reference_sampling=settings.sampling)
        for sampling in sorted((float(c) for c in samplings if settings.sampling < c <= finest_image), reverse=True):
            tried.append((sampling, difference(replace(settings, slice_thickness=chosen, sampling=sampling))))
            if tried[-1][1] < tolerance:
                evidence["sampling"] = sampling
                break
        evidence["sampling_differences"] = tuple(tried)
    return SliceConvergence(chosen, float(reference), float(tolerance), band, tuple(differences), **evidence)


def _orthogonal_extent(atoms: Atoms) -> tuple[float, float]:
    cell = np.asarray(atoms.cell, dtype=float)
    off_diagonal = cell - np.diag(np.diag(cell))
    if np.any(np.abs(off_diagonal) > 1e-6) or np.any(np.diag(cell) <= 0):
        raise TemnnError(
            "atoms: the cell must be orthogonal (a diagonal 3×3 cell in Å, beam along z), "
            f"got {np.round(cell, 4).tolist()}; build the structure in an orthogonal box "
            "(e.g. abtem.orthogonalize_cell(atoms))"
        )
    return (float(cell[0, 0]), float(cell[1, 1]))


def _positive(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and value > 0)
