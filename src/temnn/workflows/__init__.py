"""Files in, files out: one function per pipeline command, with typed arguments.

The command line (:mod:`temnn.cli`) and the napari widgets call these; they call
:mod:`temnn.structures`, :mod:`temnn.simulate`, :mod:`temnn.io`, :mod:`temnn.nn`
and :mod:`temnn.analysis`, never ``argparse``.
"""
