"""temnn's napari plugin (the ``gui`` extra): the pipeline and the Dragonfly menu items as dock widgets.

Install with ``pip install "temnn[gui]"`` and open napari: *Plugins → temnn* lists

- **Apply model**: a trained temnn model on an image or stack (tiled, frame by frame, in the
  background), as probability and class layers;
- **Label by 2+1D connectivity**: particles of a probability or binary layer, split and
  tracked across frames (thesis section 6.1);
- **FFT along time axis**: local power spectra of one tracked particle, one per frame;
- **ROI properties**: a table and an area-vs-time plot of the selected particles, with CSV export;
- **Find atoms**: atomic columns and their classes as points;
- **Simulate and train**: structures → exit waves → images → a trained model.

*File → Open* reads dm3/dm4/TIFF/EMD/TIA/MRC files with their calibration (stacks lazily),
and *File → Open Sample → temnn* simulates a MoS2 focal series and an Au/CeO2 sequence.
Every widget calls the temnn library; the plugin adds no analysis of its own. The manifest
is ``napari.yaml`` beside this file; the modules are private and import napari and Qt, so
importing :mod:`temnn` never needs them.
"""
