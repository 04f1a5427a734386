"""Preview pictures of structures: a real PNG with one panel per sample, sites coloured by class."""

from __future__ import annotations

import numpy as np
from matplotlib.image import imread

from temnn.structures.mx2 import random_mx2_flake
from temnn.structures.particle import random_supported_particle
from temnn.io.previews import save_preview
from temnn.structures.preview import plot_sample


def test_plot_sample_draws_atoms_and_one_legend_entry_per_class():
    sample = random_mx2_flake(rng=np.random.default_rng(0), cell=(24, 24), vacancies=0.2)
    ax = plot_sample(sample)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    counts = np.bincount(sample.classes, minlength=3)
    assert labels == [f"{name} ({n})" for name, n in zip(sample.class_names, counts)]
    # The first collection holds the atoms, the next ones the sites of each class.
    assert len(ax.collections[0].get_offsets()) == len(sample.atoms)
    assert sum(len(c.get_offsets()) for c in ax.collections[1:]) == len(sample.sites)
    assert ax.get_xlim() == (-1.0, 25.0)


def test_save_preview_writes_a_png_with_a_panel_per_sample(tmp_path):
    samples = [
        random_mx2_flake(rng=np.random.default_rng(1), cell=(24, 24), graphene=True),
        random_supported_particle(rng=np.random.default_rng(1), layers=4, cell=30),
    ]
    path = tmp_path / "preview.png"
    save_preview(samples, path, columns=2, titles=["MoS2 on graphene", "Au on CeO2"])
    image = imread(path)
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 100  # two panels side by side
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary file left
