"""Compiled kernels of the fast FATS backend (numba).

Each kernel reproduces the arithmetic of the corresponding feets 1.0.1
extractor (same formulas, same order of summation where it matters), so that
the fast backend agrees with feets to floating-point rounding; see
``docs/user_guide/light_curves.rst`` for the per-feature tolerances.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.fft

_JIT = dict(nopython=True, cache=True, error_model="numpy", nogil=True)

EXP_M1 = math.exp(-1.0)


# ----------------------------------------------------------------------------
# Lomb-Scargle periodogram (astropy's "standard" normalisation, fit_mean=True,
# center_data=True, no errors): the power on the whole frequency grid by a
# non-uniform FFT, then the exact power (direct sums) at every frequency that
# could be among the three highest.
# ----------------------------------------------------------------------------


@numba.jit(**_JIT)
def _gaussian_spread(theta, c, mr, msp, tau):
    """Spread ``c`` at angles ``theta`` onto ``mr`` grid points with a Gaussian.

    Step 1 of the Gaussian-gridding non-uniform FFT of Greengard & Lee (2004).
    """
    grid = np.zeros(mr, dtype=np.complex128)
    h = 2.0 * math.pi / mr
    for j in range(theta.size):
        m0 = int(math.floor(theta[j] / h))
        for q in range(-msp + 1, msp + 1):
            m = m0 + q
            x = m * h - theta[j]
            grid[m % mr] += c[j] * math.exp(-x * x / (4.0 * tau))
    return grid


class _NUFFTPlan:
    """Grid size, Gaussian width and deconvolution factors for one output grid.

    Type-1 non-uniform FFT by Gaussian gridding (Greengard & Lee 2004) with
    oversampling ``ratio`` and ``msp`` spreading points each side. With
    ratio 1.25 and msp 12 the sums are accurate to about 1e-7 of
    ``sum |h|``; the top of the periodogram is then recomputed exactly.
    """

    def __init__(self, nf, ratio=1.25, msp=12):
        m = nf + (nf % 2)
        self.nf, self.m, self.msp = nf, m, msp
        self.mr = scipy.fft.next_fast_len(int(ratio * m) + 1)
        r = self.mr / m
        self.tau = math.pi * msp / (m * m * r * (r - 0.5))
        kprime = np.arange(nf, dtype=np.float64) - m // 2
        self.deconv = math.sqrt(math.pi / self.tau) * np.exp(kprime * kprime * self.tau)

    def sums(self, t, h, f0, df):
        """``sum_j h_j exp(2 pi i f_k t_j)`` for ``f_k = f0 + k df``, ``0 <= t df < 1``."""
        m, mr = self.m, self.mr
        u = t * df
        c = h * np.exp(2j * math.pi * (f0 * t + 0.5 * m * u))
        grid = _gaussian_spread(2.0 * math.pi * u, c, mr, self.msp, self.tau)
        fg = scipy.fft.ifft(grid, workers=1, overwrite_x=True)
        half = m // 2
        # output k <-> centred mode k - m/2, stored at (k - m/2) mod mr
        return np.concatenate([fg[mr - half :], fg[: self.nf - half]])


@numba.jit(**_JIT)
def _ls_power_from_sums(Sh, Ch, S2, C2, S, C, YY):
    n = Sh.size
    power = np.empty(n)
    for k in range(n):
        tan2 = (S2[k] - 2.0 * S[k] * C[k]) / (C2[k] - (C[k] * C[k] - S[k] * S[k]))
        root = math.sqrt(1.0 + tan2 * tan2)
        S2w = tan2 / root
        C2w = 1.0 / root
        Cw = math.sqrt(0.5) * math.sqrt(1.0 + C2w)
        sgn = 1.0 if S2w > 0 else (-1.0 if S2w < 0 else 0.0)
        Sw = math.sqrt(0.5) * sgn * math.sqrt(1.0 - C2w)
        YC = Ch[k] * Cw + Sh[k] * Sw
        YS = Sh[k] * Cw - Ch[k] * Sw
        CC = 0.5 * (1.0 + C2[k] * C2w + S2[k] * S2w)
        SS = 0.5 * (1.0 - C2[k] * C2w - S2[k] * S2w)
        CC -= (C[k] * Cw + S[k] * Sw) ** 2
        SS -= (S[k] * Cw - C[k] * Sw) ** 2
        power[k] = (YC * YC / CC + YS * YS / SS) / YY
    return power


@numba.jit(**_JIT)
def ls_power_exact(t, y, freqs):
    """Exact Lomb-Scargle power at ``freqs`` (cycles per time unit) by direct sums.

    ``t`` should be shifted to start near 0 and ``y`` centred, weights 1/N.
    """
    n = t.size
    w = 1.0 / n
    nf = freqs.size
    Sh = np.zeros(nf)
    Ch = np.zeros(nf)
    S2 = np.zeros(nf)
    C2 = np.zeros(nf)
    S = np.zeros(nf)
    C = np.zeros(nf)
    YY = 0.0
    for j in range(n):
        YY += w * y[j] * y[j]
    for k in range(nf):
        f = freqs[k]
        for j in range(n):
            arg = 2.0 * math.pi * f * t[j]
            c = math.cos(arg)
            s = math.sin(arg)
            Ch[k] += w * y[j] * c
            Sh[k] += w * y[j] * s
            C[k] += w * c
            S[k] += w * s
            C2[k] += w * (c * c - s * s)
            S2[k] += w * (2.0 * s * c)
    return _ls_power_from_sums(Sh, Ch, S2, C2, S, C, YY)


@numba.jit(**_JIT)
def _ls_power_from_grids(fy, f2, f1, deconv, YY):
    n = fy.size
    power = np.empty(n)
    for k in range(n):
        d = deconv[k]
        Sh, Ch = fy[k].imag * d, fy[k].real * d
        S2, C2 = f2[k].imag * d, f2[k].real * d
        S, C = f1[k].imag * d, f1[k].real * d
        tan2 = (S2 - 2.0 * S * C) / (C2 - (C * C - S * S))
        root = math.sqrt(1.0 + tan2 * tan2)
        S2w = tan2 / root
        C2w = 1.0 / root
        Cw = math.sqrt(0.5) * math.sqrt(1.0 + C2w)
        sgn = 1.0 if S2w > 0 else (-1.0 if S2w < 0 else 0.0)
        Sw = math.sqrt(0.5) * sgn * math.sqrt(1.0 - C2w)
        YC = Ch * Cw + Sh * Sw
        YS = Sh * Cw - Ch * Sw
        CC = 0.5 * (1.0 + C2 * C2w + S2 * S2w) - (C * Cw + S * Sw) ** 2
        SS = 0.5 * (1.0 - C2 * C2w - S2 * S2w) - (S * Cw - C * Sw) ** 2
        power[k] = (YC * YC / CC + YS * YS / SS) / YY
    return power


@numba.jit(**_JIT)
def _top_k(values, k):
    """Indices of the k largest finite values (unordered), in one pass."""
    idx = np.full(k, -1, dtype=np.int64)
    best = np.full(k, -np.inf)
    low = 0  # position of the smallest kept value
    for i in range(values.size):
        v = values[i]
        if v > best[low]:
            best[low] = v
            idx[low] = i
            low = 0
            for q in range(1, k):
                if best[q] < best[low]:
                    low = q
    return idx[idx >= 0]


def ls_power_grid(t, y, f0, df, nf):
    """Lomb-Scargle power on the grid ``f0 + df * arange(nf)`` by non-uniform FFT.

    ``t`` shifted to start at 0 with ``t.max() * df < 0.5``; ``y`` centred.
    """
    n = t.size
    w = np.full(n, 1.0 / n)
    plan = _NUFFTPlan(nf)
    fy = plan.sums(t, w * y, f0, df)
    f2 = plan.sums(t, w, 2.0 * f0, 2.0 * df)
    f1 = plan.sums(t, w, f0, df)
    YY = float(np.dot(w, y * y))
    return _ls_power_from_grids(fy, f2, f1, plan.deconv, YY)


def ls_top3(t, y, f0, df, nf):
    """Indices (ascending power) and exact powers of the three highest grid values.

    Parameters
    ----------
    t : ndarray
        Times minus their minimum.
    y : ndarray
        Magnitudes minus their mean.
    f0, df, nf : float, float, int
        The frequency grid ``f0 + df * arange(nf)``.
    """
    approx = ls_power_grid(t, y, f0, df, nf)
    top = _top_k(approx, min(nf, 16))
    k0 = top.size
    if k0 < 3:
        raise ValueError("periodogram undefined (constant light curve)")
    exact_top = ls_power_exact(t, y, f0 + df * top.astype(np.float64))
    eps = float(np.max(np.abs(exact_top - approx[top])))
    third = np.sort(exact_top)[-min(3, k0)]
    margin = 8.0 * eps + 1e-9
    cand = np.flatnonzero(approx >= third - margin)
    known = dict(zip(top.tolist(), exact_top.tolist()))
    missing = np.array([c for c in cand.tolist() if c not in known], dtype=np.int64)
    if missing.size:
        extra = ls_power_exact(t, y, f0 + df * missing.astype(np.float64))
        known.update(zip(missing.tolist(), extra.tolist()))
    idx = np.fromiter(known.keys(), dtype=np.int64)
    pw = np.fromiter(known.values(), dtype=np.float64)
    order = np.argsort(pw, kind="stable")[-3:]
    return idx[order], pw[order]


# ----------------------------------------------------------------------------
# CAR(1) likelihood (Pichara et al. 2012), feets' CAR._car_like
# ----------------------------------------------------------------------------

EPSILON = 1e-300


@numba.jit(**_JIT)
def _car_filter(a, x, b_tau, omega0, error_vars, two, minus_half):
    """Kalman recursion of the CAR(1) likelihood, in feets' order of operations.

    Returns ``(2 pi (Omega_i + e_i)) ** -0.5`` and the Gaussian exponent for
    i >= 1. ``a[i - 1] = exp(-(t_i - t_{i-1}) / tau)``, ``b_tau = b * tau``.
    The powers take their exponents at run time so that they call ``pow`` as
    numpy's scalar power does (a constant 2 would become ``x * x``, which
    rounds differently).
    """
    n = x.size
    coef = np.empty(n - 1)
    expo = np.empty(n - 1)
    omega_prev = omega0
    x_hat_prev = 0.0
    x_ast_prev = x[0] - b_tau
    for i in range(1, n):
        a_new = a[i - 1]
        x_ast = x[i] - b_tau
        x_hat = a_new * x_hat_prev + a_new * omega_prev / (
            omega_prev + error_vars[i - 1]
        ) * (x_ast_prev - x_hat_prev)
        a2 = a_new**two
        omega = omega0 * (1 - a2) + a2 * omega_prev * (
            1 - omega_prev / (omega_prev + error_vars[i - 1])
        )
        var = omega + error_vars[i]
        coef[i - 1] = (2 * math.pi * var) ** minus_half
        expo[i - 1] = -0.5 * ((x_hat - x_ast) ** two / var)
        omega_prev = omega
        x_hat_prev = x_hat
        x_ast_prev = x_ast
    return coef, expo


def car_neg_loglik(params, neg_dt, x, error_vars, mean_x):
    """Negative log-likelihood of CAR(1) (Pichara et al. 2012), as feets' _car_like.

    ``neg_dt = -(t[1:] - t[:-1])``. Exponentials and logarithms are numpy's,
    the recursion is compiled, the sum sequential (``cumsum``): the value
    equals feets' to the last bit. Call under ``np.errstate(all="ignore")``.
    """
    sigma, tau = params
    b = mean_x / tau
    coef, expo = _car_filter(
        np.exp(neg_dt / tau), x, b * tau, tau * sigma**2 / 2.0, error_vars, 2.0, -0.5
    )
    return -np.cumsum(np.log(coef * (np.exp(expo) + EPSILON)))[-1]


@numba.jit(**_JIT)
def _sequential_sum(v):
    total = 0.0
    for i in range(v.size):
        total = total + v[i]
    return total


# ----------------------------------------------------------------------------
# Slotted autocorrelation (Protopapas et al. 2015), feets' slotted_autocorrelation
# with T = 1 day: per-lag sums of products over pairs, lags 0 .. K-1
# ----------------------------------------------------------------------------


@numba.jit(**_JIT)
def slotted_sums(t, d, T, k_lo, k_hi):
    """Sum of d_i d_j and pair count per lag k = floor(|t_i - t_j| / T + 0.5).

    Only pairs i < j with ``k_lo <= k < k_hi`` are counted, visited in
    row-major order (as ``numpy.where`` on the pair matrix does).
    """
    nk = k_hi
    sums = np.zeros(nk)
    counts = np.zeros(nk, dtype=np.int64)
    n = t.size
    for i in range(n):
        for j in range(i + 1, n):
            k = math.floor(abs(t[i] - t[j]) / T + 0.5)
            if k >= k_lo and k < k_hi:
                sums[int(k)] += d[i] * d[j]
                counts[int(k)] += 1
    return sums, counts


# ----------------------------------------------------------------------------
# Autocorrelation length: first lag whose ACF < exp(-1)
# ----------------------------------------------------------------------------


@numba.jit(**_JIT)
def autocor_length(x):
    n = x.size
    m = 0.0
    for i in range(n):
        m += x[i]
    m /= n
    c0 = 0.0
    for i in range(n):
        c0 += (x[i] - m) ** 2
    if not c0 > 0:
        return -1
    for k in range(n):
        ck = 0.0
        for i in range(n - k):
            ck += (x[i] - m) * (x[i + k] - m)
        if ck / c0 < EXP_M1:
            return k
    return -1


# ----------------------------------------------------------------------------
# Delta m - Delta t histogram of all pairs (Mahabal et al. 2017)
# ----------------------------------------------------------------------------


@numba.jit(**_JIT)
def dmdt_counts(t, m, dt_bins, dm_bins):
    ndt = dt_bins.size - 1
    ndm = dm_bins.size - 1
    counts = np.zeros((ndt, ndm))
    n = t.size
    for i in range(n - 1):
        for j in range(i + 1, n):
            dt = t[j] - t[i]
            dm = m[j] - m[i]
            a = _bin_index(dt, dt_bins)
            if a < 0:
                continue
            b = _bin_index(dm, dm_bins)
            if b < 0:
                continue
            counts[a, b] += 1
    return counts


@numba.jit(**_JIT)
def _bin_index(v, edges):
    """numpy.histogram's bin of ``v`` (last bin closed), -1 when outside."""
    nb = edges.size - 1
    if not (v >= edges[0] and v <= edges[nb]):
        return -1
    if v == edges[nb]:
        return nb - 1
    lo = 0
    hi = nb
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if v >= edges[mid]:
            lo = mid
        else:
            hi = mid
    return lo
