"""Compiled stamp gather for plain big-endian float32 FITS images (numba).

FITS stores float32 pixels big-endian (``BITPIX = -32``). The kernel reads
them as 32-bit words straight from the memory-mapped file (page-cache pages,
no copy into an intermediate buffer), swaps the bytes of each word and writes
the native-order bits into the output stamps, so that every pixel is read
once and written once. Objects are visited in order of their first row, so
that the few hundred image rows in use stay in the CPU caches.
"""

from __future__ import annotations

import numba
import numpy as np

from .._numba_cache import kernel_cache

_JIT = dict(nopython=True, cache=kernel_cache(), nogil=True)

#: float32 NaN (``np.float32(np.nan)``) as bits, for pixels off the image.
NAN_BITS = np.uint32(0x7FC00000)


@numba.jit(**_JIT)
def _swap32(v):
    return (
        ((v >> 24) & 0xFF)
        | ((v >> 8) & 0xFF00)
        | ((v << 8) & 0xFF0000)
        | ((v << 24) & 0xFF000000)
    )


@numba.jit(**_JIT)
def gather_band_be32(image, y0, x0, dest, band, side, out, nan_bits):
    """Cut ``side``-pixel stamps of one band into ``out[dest, band]``.

    Parameters
    ----------
    image : ndarray of uint32, shape (ny, nx)
        The band's big-endian float32 pixels viewed as 32-bit words.
    y0, x0 : ndarray of int64, shape (m,)
        First row and column of each stamp (may be negative or run past the
        image: those pixels are set to ``nan_bits``).
    dest : ndarray of int64, shape (m,)
        Index of each stamp along the first axis of ``out``.
    band : int
        Index along the second axis of ``out``.
    side : int
        Stamp side, in pixels.
    out : ndarray of uint32, shape (n, n_bands, side, side)
        The float32 output viewed as 32-bit words.
    nan_bits : uint32
        Bits written for pixels outside the image.
    """
    ny, nx = image.shape
    for k in range(y0.size):
        ya = y0[k]
        xa = x0[k]
        stamp = out[dest[k], band]
        if ya >= 0 and xa >= 0 and ya + side <= ny and xa + side <= nx:
            for r in range(side):
                src = image[ya + r, xa : xa + side]
                row = stamp[r]
                for c in range(side):
                    row[c] = _swap32(src[c])
            continue
        for r in range(side):  # NaN-padded stamp overlapping an edge
            yy = ya + r
            row = stamp[r]
            for c in range(side):
                xx = xa + c
                if 0 <= yy < ny and 0 <= xx < nx:
                    row[c] = _swap32(image[yy, xx])
                else:
                    row[c] = nan_bits
