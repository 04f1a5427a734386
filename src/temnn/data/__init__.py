"""Data sets on disk (layout, manifest, resumable generation, parallel runner) and for training."""
