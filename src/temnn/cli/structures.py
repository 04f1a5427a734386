"""``temnn structures``: randomised atomic systems, their exit waves and column sites.

Three generators share the options of the waves stage (sampling, grid, beam energy,
Debye-Waller, seed, start, workers, scheduler):

* ``temnn structures mos2 OUT N`` — MX2 flakes (MoS2 by default), optionally on graphene;
* ``temnn structures particle OUT ELEMENT MAXTILT N`` — CeO2-supported FCC particles;
* ``temnn structures flake OUT UNITCELL N`` — flakes of any 2D material from a unit-cell file.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any, Callable

from ..errors import TemnnError

_EPILOG = (
    "Output: OUT/structures/NNNNN.traj, OUT/waves/NNNNN.npz, OUT/sites/NNNNN.npz and "
    "OUT/manifest.json. Sample i depends only on (--seed, i): re-running the same command "
    "skips finished samples and an interrupted run resumes. Train and test sets are separate "
    "folders (use another OUT and --seed, or --start)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``temnn structures {mos2,particle,flake}``."""
    parser = subparsers.add_parser(
        "structures",
        help="generate atomic systems + exit waves + column sites",
        description="Generate randomised atomic systems, their exit waves (abTEM multislice) and column sites.",
        epilog=_EPILOG,
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    parser.set_defaults(func=lambda args: parser.print_help() or 1)

    mos2 = kinds.add_parser(
        "mos2",
        help="MX2 monolayer flakes (MoS2 by default) with vacancies and holes",
        description="Random 2H MX2 monolayer flakes cut by the convex hull of random points, with "
        "chalcogen vacancies (1S columns) and holes (whole columns), optionally on graphene.",
        epilog=_EPILOG,
    )
    mos2.add_argument("out", type=Path, help="output data set folder")
    mos2.add_argument("n", type=int, help="number of systems")
    mos2.add_argument("--metal", default="Mo", help="metal element M of MX2 (default Mo)")
    mos2.add_argument("--chalcogen", default="S", help="chalcogen element X of MX2 (default S)")
    mos2.add_argument("--lattice-constant", type=float, default=None, metavar="Å", help="override the MX2 lattice constant [Å]")
    mos2.add_argument("--vacancies", type=float, nargs="+", default=[0.0, 0.2], metavar="FRACTION",
                      help="fraction of chalcogen atoms removed singly: one value or LOW HIGH drawn per system (default 0 0.2)")
    mos2.add_argument("--holes", type=float, nargs="+", default=[0.0, 0.05], metavar="FRACTION",
                      help="fraction of columns removed entirely: one value or LOW HIGH (default 0 0.05)")
    mos2.add_argument("--graphene", action="store_true", help="put a graphene support flake 3.3-7.0 Å below the flake")
    mos2.add_argument("--split-1s", action="store_true", help="split class 1S into 1S-top and 1S-bottom")
    _add_flake_options(mos2, max_tilt=1.0, cell=50.0)
    _add_wave_options(mos2, energy=50e3)
    mos2.set_defaults(func=_run_mos2)

    particle = kinds.add_parser(
        "particle",
        help="FCC nanoparticles on an oxide support (Au on CeO2(111) by default)",
        description="Random FCC nanoparticles ([110] along the beam, tilted up to MAXTILT, cut at a (111) "
        "layer) placed on an oxide support slab of random thickness, seen in profile.",
        epilog=_EPILOG,
    )
    particle.add_argument("out", type=Path, help="output data set folder")
    particle.add_argument("element", help="element of the FCC particle, e.g. Au, Pt, Pd")
    particle.add_argument("max_tilt", type=float, help="largest tilt of the zone axis off the beam [degrees]")
    particle.add_argument("n", type=int, help="number of systems")
    particle.add_argument("--layers", type=int, nargs="+", default=[7, 15], metavar="N",
                          help="number of (100), (110), (111) layers: one value or LOW HIGH (default 7 15)")
    particle.add_argument("--support", default="CeO2",
                          help="support: a name (CeO2, ZrO2, ThO2, MgO, NiO), a bulk-crystal file ASE can read, or 'none'")
    particle.add_argument("--support-thickness", type=float, nargs="+", default=[10.0, 50.0], metavar="Å",
                          help="support thickness along the beam [Å]: one value or LOW HIGH (default 10 50)")
    particle.add_argument("--gap", type=float, default=1.0, metavar="Å", help="particle-support interface gap [Å] (default 1)")
    particle.add_argument("--distort", type=float, default=0.0, metavar="Å", help="σ of a Gaussian perturbation of all positions [Å]")
    particle.add_argument("--cell", type=float, nargs="+", default=[60.0], metavar="Å", help="lateral cell size [Å]: L or LX LY (default 60)")
    _add_wave_options(particle, energy=300e3)
    particle.set_defaults(func=_run_particle)

    flake = kinds.add_parser(
        "flake",
        help="flakes of any 2D material from a unit-cell file",
        description="Random defective flakes of a 2D material given as a unit cell ASE can read "
        "(the layer in the xy plane), as in publication I's C2DB data set.",
        epilog=_EPILOG,
    )
    flake.add_argument("out", type=Path, help="output data set folder")
    flake.add_argument("unit_cell", type=Path, help="unit-cell file ASE can read (.cif, .traj, .xyz, POSCAR, ...)")
    flake.add_argument("n", type=int, help="number of systems")
    flake.add_argument("--vacancies", type=float, nargs="+", default=[0.05], metavar="FRACTION",
                       help="fraction of atoms removed singly: one value or LOW HIGH (default 0.05)")
    flake.add_argument("--holes", type=float, nargs="+", default=[0.05], metavar="FRACTION",
                       help="fraction of columns removed entirely: one value or LOW HIGH (default 0.05)")
    _add_flake_options(flake, max_tilt=10.0, cell=50.0)
    _add_wave_options(flake, energy=50e3)
    flake.set_defaults(func=_run_flake)


def _add_flake_options(parser: argparse.ArgumentParser, *, max_tilt: float, cell: float) -> None:
    parser.add_argument("--distort", type=float, default=0.01, metavar="Å", help="σ of a Gaussian perturbation of all positions [Å] (default 0.01)")
    parser.add_argument("--max-tilt", type=float, default=max_tilt, metavar="DEG", help=f"largest tilt off the beam axis [degrees] (default {max_tilt:g})")
    parser.add_argument("--cell", type=float, nargs="+", default=[cell], metavar="Å", help=f"lateral cell size [Å]: L or LX LY (default {cell:g})")


def _add_wave_options(parser: argparse.ArgumentParser, *, energy: float) -> None:
    group = parser.add_argument_group("exit waves and execution")
    group.add_argument("--sampling", type=float, default=0.05, metavar="Å", help="largest exit-wave sampling [Å/pixel]; the grid is rounded up to an FFT-friendly size (default 0.05)")
    group.add_argument("--gpts", "--arraysize", type=int, nargs="+", default=None, metavar="N", help="explicit exit-wave grid: N or NX NY [pixels] (overrides --sampling)")
    group.add_argument("--beam-energy", type=float, default=energy, metavar="EV", help=f"acceleration energy [eV] (default {energy:g})")
    group.add_argument("--slice-thickness", type=float, default=0.2, metavar="Å", help="multislice slice thickness [Å] (default 0.2)")
    group.add_argument("--slice-tolerance", type=float, default=None, metavar="TOL", help="choose the thickest slices (2, 1, 0.5, 0.4, 0.3 Å) whose exit wave of the first system is within max abs(Δψ) < TOL of --slice-thickness slices (see --slice-criterion for the image comparison), and record the choice in the manifest")
    group.add_argument("--slice-band", type=float, default=None, metavar="1/Å", help="with --slice-tolerance: compare the waves only up to this spatial frequency [1/Å] (default: the whole grid)")
    group.add_argument("--slice-criterion", choices=("wave", "image"), default="wave", help="how --slice-tolerance compares a slicing with the reference: 'wave' max abs(Δψ) (default), or 'image': the noise-free HR-TEM images at the least damped conditions of --slice-parameters (defocus low/middle/high) differ by less than TOL (default 1) standard deviations of the shot noise at --slice-dose in every pixel; 'image' chooses and records the slicing without --slice-tolerance")
    group.add_argument("--slice-parameters", type=Path, default=None, metavar="FILE", help="with --slice-criterion image: the parameters file of the images (its sampling, defocus, aberration, focal-spread and blur ranges)")
    group.add_argument("--slice-dose", type=float, default=None, metavar="E/Å²", help="with --slice-criterion image: dose of the shot noise [e⁻/Å²] (default 1000)")
    group.add_argument("--slice-samplings", type=float, nargs="+", default=None, metavar="Å", help="with --slice-criterion image: coarser exit-wave samplings [Å/pixel] to try at the chosen thickness (those coarser than the finest image sampling are skipped); the coarsest that passes is used and recorded")
    group.add_argument("--projection", choices=("infinite", "finite"), default="infinite", help="abTEM potential projection (default infinite: fast)")
    group.add_argument("--debye-waller", type=float, default=None, metavar="Å²", help="mean-square displacement <u²> per direction [Å²] smearing the potential (e.g. 0.0030 for MoS2 at 300 K)")
    group.add_argument("--frozen-phonons", type=int, default=0, metavar="N", help="store the exit waves of N frozen-phonon configurations per sample (atoms displaced by --amplitudes); images average their intensities")
    group.add_argument("--amplitudes", type=Path, default=None, metavar="FILE", help="vibrational amplitudes per element and coordination [Å] (JSON from temnn.io.vibrations.write_amplitudes)")
    group.add_argument("--amplitude-scale", type=float, default=1.0, metavar="F", help="factor on every vibrational amplitude (default 1)")
    group.add_argument("--store-object-wave", action="store_true", help="also store the exit wave of the flake/particle without its support")
    group.add_argument("--seed", type=int, default=0, help="seed of the data set (default 0)")
    group.add_argument("--start", "-s", type=int, default=0, help="index of the first system (default 0)")
    group.add_argument("--workers", "-n", type=int, default=1, help="local worker processes (default 1)")
    group.add_argument("--scheduler", default=None, metavar="ADDRESS", help="address of a running Dask scheduler (tcp://host:port) to run on instead")
    group.add_argument("--preview", type=int, default=0, metavar="K", help="write OUT/preview.png showing the first K systems with sites and exit-wave phase")
    group.add_argument("--overwrite", action="store_true", help="replace a data set in OUT made with other arguments")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def _range(values: list[float], name: str) -> float | tuple[float, float]:
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise TemnnError(f"--{name} takes one value or a LOW HIGH pair, got {len(values)} values")


def _cell(values: list[float]) -> tuple[float, float]:
    value = _range(values, "cell")
    return (value, value) if isinstance(value, float) else value


def _run_mos2(args: argparse.Namespace) -> int:
    from ..structures.mx2 import random_mx2_flake

    make = functools.partial(
        random_mx2_flake,
        metal=args.metal,
        chalcogen=args.chalcogen,
        a=args.lattice_constant,
        cell=_cell(args.cell),
        vacancies=_range(args.vacancies, "vacancies"),
        holes=_range(args.holes, "holes"),
        distort=args.distort,
        max_tilt=args.max_tilt,
        graphene=args.graphene,
        split_1s=args.split_1s,
    )
    return _generate(args, make)


def _run_particle(args: argparse.Namespace) -> int:
    from ..structures.particle import random_supported_particle

    layers = _range([float(v) for v in args.layers], "layers")
    make = functools.partial(
        random_supported_particle,
        element=args.element,
        layers=int(layers) if isinstance(layers, float) else (int(layers[0]), int(layers[1])),
        max_tilt=args.max_tilt,
        cell=_cell(args.cell),
        support=None if args.support.lower() == "none" else args.support,
        support_thickness=_range(args.support_thickness, "support-thickness"),
        gap=args.gap,
        distort=args.distort,
    )
    return _generate(args, make)


def _run_flake(args: argparse.Namespace) -> int:
    from ..structures.flake import random_flake, read_unit_cell

    read_unit_cell(args.unit_cell)  # fail early, with the file name, on a bad unit cell
    make = functools.partial(
        random_flake,
        unit_cell=str(args.unit_cell.resolve()),
        cell=_cell(args.cell),
        vacancies=_range(args.vacancies, "vacancies"),
        holes=_range(args.holes, "holes"),
        distort=args.distort,
        max_tilt=args.max_tilt,
    )
    return _generate(args, make)


def _generate(args: argparse.Namespace, make: Callable[..., Any]) -> int:
    from ..simulate.waves import WaveSettings
    from ..workflows.structures import choose_slicing, make_structures

    if args.n < 0:
        raise TemnnError(f"N must be a non-negative number of systems, got {args.n}")
    gpts = None
    if args.gpts is not None:
        if len(args.gpts) not in (1, 2):
            raise TemnnError(f"--gpts takes N or NX NY, got {len(args.gpts)} values")
        gpts = (args.gpts[0], args.gpts[-1])
    settings = WaveSettings(
        energy=args.beam_energy,
        sampling=args.sampling,
        gpts=gpts,
        slice_thickness=args.slice_thickness,
        projection=args.projection,
        debye_waller=args.debye_waller,
    )
    accuracy = None
    image = args.slice_criterion == "image"
    if not image and (args.slice_parameters is not None or args.slice_dose is not None or args.slice_samplings):
        raise TemnnError("--slice-parameters, --slice-dose and --slice-samplings need --slice-criterion image")
    if image and args.slice_parameters is None:
        raise TemnnError("--slice-criterion image needs --slice-parameters FILE: the parameters file of the images "
                         "(its microscope ranges are the conditions the waves are imaged at)")
    if args.slice_band is not None and (image or args.slice_tolerance is None):
        raise TemnnError("--slice-band needs --slice-tolerance" if not image
                         else "--slice-band belongs to --slice-criterion wave")
    if args.slice_tolerance is not None or image:
        microscopes = None
        if image:
            from ..parameters import Parameters
            from ..simulate.draw import least_damped_microscopes

            microscopes = least_damped_microscopes(Parameters.load(args.slice_parameters), energy=args.beam_energy)
        dose = 1e3 if args.slice_dose is None else args.slice_dose
        settings, accuracy, choice = choose_slicing(make, settings, seed=args.seed, start=args.start,
                                                    tolerance=args.slice_tolerance, band=args.slice_band,
                                                    microscopes=microscopes, dose=dose,
                                                    samplings=tuple(args.slice_samplings or ()))
        if not args.quiet:
            measure = f"max |ΔI|/σ at {dose:g} e⁻/Å²" if image else "max |Δψ|"
            print(f"slice thickness {choice.slice_thickness:g} Å ({measure} against {args.slice_thickness:g} Å: "
                  + ", ".join(f"{t:g} Å {d:.2g}" for t, d in choice.differences) + ")")
            if choice.sampling is not None:
                print(f"wave sampling {choice.sampling:g} Å/pixel ({measure} against {args.sampling:g} Å/pixel: "
                      + ", ".join(f"{s:g} {d:.2g}" for s, d in choice.sampling_differences) + ")")
    dataset, preview = make_structures(
        args.out,
        args.n,
        make,
        seed=args.seed,
        start=args.start,
        wave_settings=settings,
        workers=args.workers,
        scheduler=args.scheduler,
        store_object_wave=args.store_object_wave,
        wave_function=_frozen_phonons(args),
        overwrite=args.overwrite,
        preview=args.preview,
        wave_accuracy=accuracy,
        progress=not args.quiet,
    )
    if preview is not None:
        print(f"preview: {preview}")
    print(f"{dataset.root}: {len(dataset)} systems with exit waves and sites")
    return 0


def _frozen_phonons(args: argparse.Namespace) -> Any:
    """The frozen-phonon exit-wave hook asked for on the command line, or None."""
    if not args.frozen_phonons and args.amplitudes is None:
        return None
    if args.frozen_phonons < 1 or args.amplitudes is None:
        raise TemnnError("frozen phonons need both --frozen-phonons N (≥ 1) and --amplitudes FILE")
    if args.debye_waller is not None:
        raise TemnnError("use either --debye-waller (static smearing) or --frozen-phonons, not both")
    from ..io.vibrations import read_amplitudes
    from ..simulate.phonons import FrozenPhonons

    return FrozenPhonons(read_amplitudes(args.amplitudes), args.frozen_phonons, args.amplitude_scale)
