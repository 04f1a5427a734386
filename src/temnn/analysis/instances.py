"""Pseudo-instance segmentation of one frame: particles, their ids and properties.

A binary segmentation (a thresholded probability map) is split into one region per
particle by a watershed on its distance map (thesis section 3.5, fig. 3.10):
the distance map peaks at the centre of each particle, those peaks (at least a
minimum separation apart, and at least a quarter pixel above the saddle towards a
higher peak, so that the nearly flat ridge along the neck of two touching particles
does not seed a third) seed the watershed, and touching or overlapping particles
come apart along the neck between them. Regions smaller than the square
of the minimum separation are removed as noise (thesis section 6.1).

Label images index (x, y) like the images: ``labels[ix, iy]``; 0 is background.
The minimum separation is a keyword in Å (``min_spacing``, with ``sampling``); the
columns of the property table are in nm and nm², as in the thesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from ..errors import TemnnError
from ..checks import finite_threshold, positive_sampling, real_finite
from ..units import length_in_pixels
from .peaks import _regional_maxima

if TYPE_CHECKING:
    from skimage.measure._regionprops import RegionProperties

__all__ = [
    "label_instances",
    "min_separation_pixels",
    "separation_pixels",
    "Instance2D",
    "Slice",
    "INSTANCE_PROPERTIES",
    "register_property",
]

# name -> function of (region, sampling [Å/pixel]) giving the property's value.
PropertyFunction = Callable[["RegionProperties", float], float]

INSTANCE_PROPERTIES: dict[str, PropertyFunction] = {
    "area_nm2": lambda r, s: float(r.area) * (s / 10.0) ** 2,
    "com_x_nm": lambda r, s: float(r.centroid[0]) * s / 10.0,
    "com_y_nm": lambda r, s: float(r.centroid[1]) * s / 10.0,
    "equivalent_diameter_nm": lambda r, s: float(r.equivalent_diameter_area) * s / 10.0,
    "perimeter_nm": lambda r, s: float(r.perimeter) * s / 10.0,
    "eccentricity": lambda r, s: float(r.eccentricity),
}
"""Properties computed for every instance. Add one with :func:`register_property`."""


def register_property(name: str, function: PropertyFunction) -> None:
    """Add a property computed for every instance from then on.

    Parameters
    ----------
    name
        Column name, with its unit as a suffix (``"feret_max_nm"``).
    function
        ``function(region, sampling)`` of a :class:`skimage.measure.RegionProperties`
        and the sampling [Å/pixel], returning a number.

    Examples
    --------
    >>> register_property("feret_max_nm", lambda r, s: r.feret_diameter_max * s / 10)
    >>> del INSTANCE_PROPERTIES["feret_max_nm"]
    """
    if not callable(function):
        raise TemnnError(f"register_property: the property {name!r} needs a function (region, sampling) -> number")
    INSTANCE_PROPERTIES[str(name)] = function


def min_separation_pixels(min_separation: float, sampling: float) -> float:
    """Deprecated: a minimum separation [nm] in pixels for a sampling [Å/pixel]; warns.

    Give lengths in Å instead (``min_spacing=``), converted by :func:`temnn.units.length_in_pixels`.
    """
    return separation_pixels("min_separation_pixels", sampling=sampling, min_spacing=None,
                             min_separation=min_separation)


def separation_pixels(where: str, *, sampling: float, min_spacing: float | None,
                      min_separation: float | None = None) -> float:
    """The smallest particle separation in pixels: ``min_spacing`` [Å] or the deprecated ``min_separation`` [nm].

    Parameters
    ----------
    where : str
        The calling function, for the messages.
    sampling : float
        Pixel size [Å/pixel].
    min_spacing : float or None
        Smallest distance between particle centres [Å].
    min_separation : float or None
        The same in nm (deprecated spelling; warns).

    Returns
    -------
    float
        The separation [pixels].

    Examples
    --------
    >>> separation_pixels("track", sampling=0.5, min_spacing=10.0)
    20.0
    """
    separation = length_in_pixels(where, name="min_spacing", value=min_spacing, sampling=sampling,
                                  old_name="min_separation", old_value=min_separation, old_unit="nm",
                                  depth=1)  # the warning points at the public function's caller
    if separation is None or separation <= 0:
        given = f"min_separation: expected a positive distance in nm, got {min_separation!r}" \
            if min_separation is not None else f"min_spacing: expected a positive distance in Å, got {min_spacing!r}"
        raise TemnnError(f"{where}: {given} (the smallest distance between particle centres)")
    return separation


def label_instances(prob: np.ndarray, *, sampling: float, min_spacing: float | None = None,
                    threshold: float = 0.5, min_separation: float | None = None) -> np.ndarray:
    """Split a segmentation into one labelled region per particle.

    Parameters
    ----------
    prob
        (nx, ny) probability map [0-1] or binary mask of the particles.
    sampling
        Pixel size [Å/pixel].
    min_spacing
        Smallest distance between two particle centres [Å]. Its square is the
        smallest particle area kept [Å²].
    threshold
        A pixel belongs to a particle where ``prob >= threshold`` [probability].
    min_separation
        Deprecated: the smallest distance in nm (``min_spacing`` = 10 · ``min_separation``); warns.

    Returns
    -------
    np.ndarray
        int32 (nx, ny) labels 1..N, one per particle; 0 is background.

    Examples
    --------
    >>> import numpy as np
    >>> x, y = np.mgrid[:80, :50]
    >>> two = (np.hypot(x - 22, y - 25) < 15) | (np.hypot(x - 50, y - 25) < 15)
    >>> int(label_instances(two, sampling=0.5, min_spacing=10.0).max())
    2
    """
    separation = separation_pixels("label_instances", sampling=sampling, min_spacing=min_spacing,
                                   min_separation=min_separation)
    return _label_instances(prob, separation, threshold=threshold)


def _label_instances(prob: np.ndarray, separation: float, *, threshold: float) -> np.ndarray:
    """:func:`label_instances` with the separation in pixels."""
    prob = real_finite(prob, name="prob")
    if prob.ndim != 2:
        raise TemnnError(f"prob: expected one (nx, ny) frame, got an array of shape {prob.shape}")
    threshold = finite_threshold(threshold)
    labels = np.zeros(prob.shape, dtype=np.int32)
    regions, _ = ndi.label(prob >= threshold, structure=np.ones((3, 3)))
    count = 0
    # One connected region at a time, in its bounding box: particles cover a small part of
    # a frame, so this does the distance transform and watershed on a fraction of the pixels.
    for index, box in enumerate(ndi.find_objects(regions), start=1):
        box = tuple(slice(max(b.start - 1, 0), min(b.stop + 1, n)) for b, n in zip(box, prob.shape))
        region = regions[box] == index
        if np.count_nonzero(region) < separation**2:
            continue
        distance = ndi.distance_transform_edt(region)
        # Seeds rise at least a quarter pixel above the saddle towards a higher maximum (h-maxima):
        # the nearly flat ridge along the neck of two touching particles otherwise seeds a third.
        seeds = region & h_maxima(distance, 0.25).astype(bool)
        markers, _, _ = _regional_maxima(distance, separation, mask=seeds)
        parts = watershed(-distance, markers, connectivity=2, mask=region)
        keep = np.bincount(parts.ravel()) >= separation**2  # particles smaller than min_spacing² go
        keep[0] = False
        new_label = np.zeros(len(keep), dtype=np.int32)
        new_label[keep] = np.arange(count + 1, count + 1 + np.count_nonzero(keep), dtype=np.int32)
        count += int(np.count_nonzero(keep))
        labels[box][region] = new_label[parts[region]]
    return labels


@dataclass
class Instance2D:
    """One particle in one frame.

    Attributes
    ----------
    id
        Identification number; equal across frames for a tracked particle.
    bbox
        (ix0, iy0, ix1, iy1) bounding box [pixels], end exclusive.
    mask
        Boolean mask of the particle inside its bounding box.
    properties
        Property name -> value, computed by the functions in
        :data:`INSTANCE_PROPERTIES` (``area_nm2``, ``com_x_nm``, ...).
    """

    id: int
    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    properties: dict[str, float] = field(default_factory=dict)

    @property
    def area(self) -> float:
        """Projected area [nm²]."""
        return self.properties["area_nm2"]

    @property
    def centre_of_mass(self) -> tuple[float, float]:
        """Centre of the particle's pixels (ix, iy) [pixels]."""
        ix, iy = np.nonzero(self.mask)
        return float(ix.mean() + self.bbox[0]), float(iy.mean() + self.bbox[1])

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """The particle's mask in a frame of ``shape`` (nx, ny)."""
        out = np.zeros(shape, dtype=bool)
        out[self.bbox[0]:self.bbox[2], self.bbox[1]:self.bbox[3]] = self.mask
        return out


@dataclass
class Slice:
    """One segmented frame and its particles.

    Attributes
    ----------
    index
        Frame number in its sequence.
    sampling
        Pixel size [Å/pixel].
    shape
        Frame shape (nx, ny) [pixels].
    instances
        The particles, by increasing id.
    """

    index: int
    sampling: float
    shape: tuple[int, int]
    instances: list[Instance2D] = field(default_factory=list)

    @classmethod
    def from_labels(cls, labels: np.ndarray, sampling: float, *, index: int = 0) -> Slice:
        """A slice from an instance label image (0 = background, ids > 0).

        Parameters
        ----------
        labels
            (nx, ny) integer labels, e.g. from :func:`label_instances` or a tracked frame.
        sampling
            Pixel size [Å/pixel].
        index
            Frame number.
        """
        labels = np.asarray(labels)
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
            raise TemnnError(f"labels: expected an integer (nx, ny) label image, got {labels.dtype} {labels.shape}")
        sampling = positive_sampling(sampling)
        instances = [
            Instance2D(int(r.label), tuple(int(b) for b in r.bbox), r.image.copy(),
                       {name: f(r, sampling) for name, f in INSTANCE_PROPERTIES.items()})
            for r in regionprops(labels)
        ]
        return cls(int(index), sampling, (int(labels.shape[0]), int(labels.shape[1])), instances)

    def __iter__(self) -> Iterator[Instance2D]:
        return iter(self.instances)

    def __len__(self) -> int:
        return len(self.instances)

    @property
    def ids(self) -> list[int]:
        """Ids of the particles in this frame."""
        return [inst.id for inst in self.instances]

    def instance(self, id: int) -> Instance2D:
        """The particle with ``id``; raises :class:`KeyError` if it is not in this frame."""
        for inst in self.instances:
            if inst.id == id:
                return inst
        raise KeyError(f"no instance with id {id} in frame {self.index}")

    def add_instance(self, instance: Instance2D) -> None:
        """Add a particle, keeping the instances ordered by id."""
        if instance.id in self.ids:
            raise TemnnError(f"frame {self.index} already has an instance with id {instance.id}")
        self.instances.append(instance)
        self.instances.sort(key=lambda inst: inst.id)

    def labels(self) -> np.ndarray:
        """The frame's int32 label image rebuilt from its instances."""
        out = np.zeros(self.shape, dtype=np.int32)
        for inst in self.instances:
            box = out[inst.bbox[0]:inst.bbox[2], inst.bbox[1]:inst.bbox[3]]
            box[inst.mask] = inst.id
        return out
