"""Stamps: cut them from FITS images around catalog positions, calibrate them."""

from ._calibrate import Calibrator, asinh_stretch, scale_to_reference
from ._crop import FITSCropper, OffImageWarning, resample_flux_conserving

__all__ = [
    "Calibrator",
    "FITSCropper",
    "OffImageWarning",
    "asinh_stretch",
    "resample_flux_conserving",
    "scale_to_reference",
]
