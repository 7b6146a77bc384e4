"""Stamps: cut them from FITS images around catalog positions, calibrate them."""

__all__: list[str] = []
