"""Atomic structures: MX2 flakes, supported FCC particles, generic 2D flakes, column sites."""
