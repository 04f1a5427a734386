"""Files in, arrays out (and back): every file format temnn reads or writes.

- :mod:`~temnn.io.files`: atomic writes, JSON, NumPy files, output folders
- :mod:`~temnn.io.dataset`: the data-set layout (manifest, exit waves, sites)
- :mod:`~temnn.io.image_sets`: image sets (images, labels, per-image parameters)
- :mod:`~temnn.io.microscope`: microscope files (TIFF, DM3/4, EMD, MRC …) through RosettaSciIO
- :mod:`~temnn.io.tables`: CSV tables

Nothing here imports the networks, the analysis or the command line.
"""
