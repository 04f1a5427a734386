"""Simulation stage: exit waves (multislice), optics, detector, images and labels."""
