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

from .._numba_cache import kernel_cache

_JIT = dict(nopython=True, cache=kernel_cache(), error_model="numpy", nogil=True)

EXP_M1 = math.exp(-1.0)


# ----------------------------------------------------------------------------
# Lomb-Scargle periodogram (astropy's "standard" normalisation, fit_mean=True,
# center_data=True, no errors): the power on the whole frequency grid by a
# non-uniform FFT, then the exact power (direct sums) at every frequency that
# could be among the three highest.
# ----------------------------------------------------------------------------


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
        # 5-smooth sizes: pocketfft is faster on them than on 7- or 11-smooth ones
        self.mr = scipy.fft.next_fast_len(int(ratio * m) + 1, real=True)
        r = self.mr / m
        self.tau = math.pi * msp / (m * m * r * (r - 0.5))
        kprime = np.arange(nf, dtype=np.float64) - m // 2
        self.deconv = math.sqrt(math.pi / self.tau) * np.exp(kprime * kprime * self.tau)


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
def ls_power_exact(t, y, w, freqs):
    """Exact Lomb-Scargle power at ``freqs`` (cycles per time unit) by direct sums.

    ``t`` should be shifted to start near 0, ``y`` centred (with the weights'
    mean) and the weights ``w`` sum to one: ``1 / N`` each for astropy's
    unweighted periodogram, ``err**-2 / sum(err**-2)`` for the generalised
    (floating-mean, error-weighted) one of Zechmeister & Kuerster (2009).
    """
    n = t.size
    nf = freqs.size
    Sh = np.zeros(nf)
    Ch = np.zeros(nf)
    S2 = np.zeros(nf)
    C2 = np.zeros(nf)
    S = np.zeros(nf)
    C = np.zeros(nf)
    YY = 0.0
    for j in range(n):
        YY += w[j] * y[j] * y[j]
    for k in range(nf):
        f = freqs[k]
        for j in range(n):
            arg = 2.0 * math.pi * f * t[j]
            c = math.cos(arg)
            s = math.sin(arg)
            Ch[k] += w[j] * y[j] * c
            Sh[k] += w[j] * y[j] * s
            C[k] += w[j] * c
            S[k] += w[j] * s
            C2[k] += w[j] * (c * c - s * s)
            S2[k] += w[j] * (2.0 * s * c)
    return _ls_power_from_sums(Sh, Ch, S2, C2, S, C, YY)


@numba.jit(**_JIT)
def _ls_power_from_grids(fy, f2, f1, deconv, YY):
    """Approximate power from the gridded sums (deconvolved by ``deconv``).

    The floating-mean power written without the time shift tau (the 2x2
    least-squares solution; Zechmeister & Kuerster 2009, eq. 5): equal to
    astropy's formula in exact arithmetic, with no square root and one
    division, so the loop vectorises. The top of the periodogram is then
    recomputed with astropy's formula (:func:`ls_power_exact`).
    """
    n = fy.size
    power = np.empty(n)
    for k in range(n):
        d = deconv[k]
        YS, YC = fy[k].imag * d, fy[k].real * d
        S2, C2 = f2[k].imag * d, f2[k].real * d
        S, C = f1[k].imag * d, f1[k].real * d
        CC = 0.5 * (1.0 + C2) - C * C
        SS = 0.5 * (1.0 - C2) - S * S
        CS = 0.5 * S2 - C * S
        D = CC * SS - CS * CS
        power[k] = (YC * YC * SS + YS * YS * CC - 2.0 * YC * YS * CS) / (YY * D)
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


@numba.jit(**_JIT)
def _spread_residue(t, y, w, n_split, r, f0, df, m, mr, msp, tau):
    """Gaussian-gridded, modulated grids of the three periodogram sums for the
    frequencies ``f = f0 + k df`` with ``k = n_split * q + r`` (sub-grid mode
    ``q``), point weights ``w``.

    Row 0 holds ``sum y e^{2 pi i f t}``, row 1 ``sum e^{2 pi i 2 f t}`` and
    row 2 ``sum e^{2 pi i f t}``. The Gaussian weights use the fast-gridding
    factorisation (two exponentials per point and row).
    """
    n = t.size
    grid = np.zeros((3, mr), dtype=np.complex128)
    h = 2.0 * math.pi / mr
    e3 = np.empty(2 * msp)
    for qi in range(2 * msp):
        q = qi - msp + 1
        e3[qi] = math.exp(-((q * h) ** 2) / (4.0 * tau))
    for b in range(2):  # 0: frequencies f (rows 0 and 2), 1: frequencies 2 f
        scale = 2.0 if b == 1 else 1.0
        step = scale * n_split * df  # spacing of the sub-grid frequencies
        fr = scale * (f0 + r * df)
        for j in range(n):
            u = t[j] * step
            theta = 2.0 * math.pi * u
            ang = 2.0 * math.pi * (fr * t[j] + 0.5 * m * u)
            cr = w[j] * math.cos(ang)
            ci = w[j] * math.sin(ang)
            m0 = int(math.floor(theta / h))
            x0 = m0 * h - theta
            e1 = math.exp(-x0 * x0 / (4.0 * tau))
            e2 = math.exp(-x0 * h / (2.0 * tau))
            p = e1 * e2 ** (-msp + 1)
            idx = (m0 - msp + 1) % mr
            if b == 0:
                yr = y[j] * cr
                yi = y[j] * ci
                for qi in range(2 * msp):
                    g = p * e3[qi]
                    grid[0, idx] += complex(yr * g, yi * g)
                    grid[2, idx] += complex(cr * g, ci * g)
                    p *= e2
                    idx += 1
                    if idx == mr:
                        idx = 0
            else:
                for qi in range(2 * msp):
                    g = p * e3[qi]
                    grid[1, idx] += complex(cr * g, ci * g)
                    p *= e2
                    idx += 1
                    if idx == mr:
                        idx = 0
    return grid


def ls_power_grid(t, y, w, f0, df, nf, n_split=4):
    """Lomb-Scargle power on the grid ``f0 + df * arange(nf)`` by non-uniform FFT.

    ``t`` shifted to start at 0; ``y`` centred; ``w`` the point weights,
    summing to one (see :func:`ls_power_exact`). The frequencies are split
    by residue of their index modulo ``n_split``; for each residue the three
    sums are gridded, transformed (one batched FFT of ``ceil(nf / n_split)``
    modes, oversampled) and turned into powers, so that the working set
    stays in cache: the same arithmetic as one long transform per sum, 2-3
    times faster.
    """
    n_q = -(-nf // n_split)
    plan = _NUFFTPlan(n_q)
    YY = float(np.dot(w, y * y))
    half = plan.m // 2
    mr = plan.mr
    dec = plan.deconv
    power = np.empty((n_q, n_split))
    lo = min(half, n_q)
    for r in range(n_split):
        grid = _spread_residue(
            t, y, w, n_split, r, f0, df, plan.m, mr, plan.msp, plan.tau
        )
        fg = scipy.fft.ifft(grid, axis=1, workers=1, overwrite_x=True)
        # mode q is at column (q - half) mod mr: two contiguous segments
        a = fg[:, mr - half : mr - half + lo]
        power[:lo, r] = _ls_power_from_grids(a[0], a[1], a[2], dec[:lo], YY)
        if n_q > half:
            b = fg[:, : n_q - half]
            power[lo:, r] = _ls_power_from_grids(b[0], b[1], b[2], dec[lo:], YY)
    return power.reshape(-1)[:nf]


#: Frequencies at the bottom of the grid always computed by direct sums.
_N_LOW_EXACT = 8


def ls_top3(t, y, w, f0, df, nf):
    """Indices (ascending power) and exact powers of the three highest grid values.

    Parameters
    ----------
    t : ndarray
        Times minus their minimum.
    y : ndarray
        Magnitudes minus their (weighted) mean.
    w : ndarray
        Point weights summing to one (see :func:`ls_power_exact`).
    f0, df, nf : float, float, int
        The frequency grid ``f0 + df * arange(nf)``.
    """
    approx = ls_power_grid(t, y, w, f0, df, nf)
    top = _top_k(approx, min(nf, 16))
    if top.size < 3:
        raise ValueError("periodogram undefined (constant light curve)")
    # the gridded sums lose most accuracy at the lowest frequencies (where
    # the power's denominator nearly cancels: up to ~1e-3 at the first, 1e-5
    # at the second, < 5e-6 beyond): the first few are always exact
    low = np.arange(min(nf, _N_LOW_EXACT))
    check = np.union1d(top, low)
    exact = ls_power_exact(t, y, w, f0 + df * check.astype(np.float64))
    err = np.abs(exact - approx[check])
    eps = float(np.max(err[check >= 2])) if (check >= 2).any() else 0.0
    third = np.sort(exact)[-3]
    margin = max(8.0 * eps, 1e-5)
    cand = np.flatnonzero(approx >= third - margin)
    known = dict(zip(check.tolist(), exact.tolist()))
    missing = np.array([c for c in cand.tolist() if c not in known], dtype=np.int64)
    if missing.size:
        extra = ls_power_exact(t, y, w, f0 + df * missing.astype(np.float64))
        known.update(zip(missing.tolist(), extra.tolist()))
    idx = np.fromiter(sorted(known), dtype=np.int64)
    pw = np.array([known[i] for i in idx.tolist()])
    order = np.argsort(pw, kind="stable")[-3:]  # ties: lower frequency first
    return idx[order], pw[order]


# ----------------------------------------------------------------------------
# CAR(1) likelihood (Pichara et al. 2012), feets' CAR._car_like
# ----------------------------------------------------------------------------

EPSILON = 1e-300


@numba.jit(**_JIT)
def _split(v):
    """Veltkamp split of ``v`` into two 26-bit halves (``v == hi + lo``)."""
    c = 134217729.0 * v
    hi = c - (c - v)
    return hi, v - hi


@numba.jit(**_JIT)
def pow2(x, two):
    """``x ** 2.0`` with the bits of libm's ``pow(x, 2.0)`` (what numpy's scalar
    power calls), without calling ``pow`` in most cases.

    ``x * x`` is the correctly rounded square; glibc's ``pow`` is within
    0.52 ULP of the exact value, so it returns the same double unless the
    exact square lies within 0.05 ULP of a rounding midpoint. The exact error
    of ``x * x`` (Dekker's product) tells when it is safely away from one;
    otherwise (about 10% of cases), and out of the safe range, ``pow`` is
    called. The test suite compares both with ``pow`` on a million values. ``two`` must be 2.0, passed at run time so that LLVM keeps the
    ``pow`` call.
    """
    ax = abs(x)
    if not (1e-140 < ax < 1e140):
        return x**two
    p = x * x
    hi, lo = _split(x)
    err = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo  # exact x*x - p
    # p + 1.1 err rounds to p iff |err| < 0.455 of the spacing of the doubles
    # on err's side of p: then the exact square is more than 0.54 spacing
    # from the other neighbour, and pow (error < 0.52 ULP) returns p.
    if p + 1.1 * err == p:
        return p
    return x**two


@numba.jit(**_JIT)
def rsqrt(y, minus_half):
    """``y ** -0.5`` with the bits of libm's ``pow(y, -0.5)`` (see :func:`pow2`).

    ``1 / sqrt(y)`` is checked against the exact value through the residual
    ``r * r * y - 1`` computed with Dekker's products; when it is within
    0.455 ULP of ``y ** -0.5`` it is the double ``pow`` returns.
    """
    if not (1e-140 < y < 1e140):
        return y**minus_half
    r = 1.0 / math.sqrt(y)
    rr = r * r
    rh, rl = _split(r)
    rr_err = ((rh * rh - rr) + 2.0 * rh * rl) + rl * rl  # r*r = rr + rr_err
    p1 = rr * y
    ah, al = _split(rr)
    yh, yl = _split(y)
    e1 = (((ah * yh - p1) + ah * yl) + al * yh) + al * yl  # rr*y = p1 + e1
    s = ((p1 - 1.0) + e1) + rr_err * y  # r*r*y - 1
    d = 0.5 * r * s  # r - y**-0.5, to first order
    if r - 1.1 * d == r:  # as in pow2: within 0.455 spacing of the exact value
        return r
    return y**minus_half


@numba.jit(**_JIT)
def _car_filter(a, x, b_tau, omega0, error_vars, two, minus_half):
    """Kalman recursion of the CAR(1) likelihood, in feets' order of operations.

    Returns ``(2 pi (Omega_i + e_i)) ** -0.5`` and the Gaussian exponent for
    i >= 1. ``a[i - 1] = exp(-(t_i - t_{i-1}) / tau)``, ``b_tau = b * tau``.
    The powers are those of libm's ``pow`` (as numpy's scalar power, which
    feets uses): :func:`pow2` and :func:`rsqrt` give its bits.
    """
    n = x.size
    coef = np.empty(n - 1)
    expo = np.empty(n - 1)
    _car_filter_into(a, x, b_tau, omega0, error_vars, two, minus_half, coef, expo)
    return coef, expo


@numba.jit(**_JIT)
def _car_filter_into(a, x, b_tau, omega0, error_vars, two, minus_half, coef, expo):
    n = x.size
    omega_prev = omega0
    x_hat_prev = 0.0
    x_ast_prev = x[0] - b_tau
    for i in range(1, n):
        a_new = a[i - 1]
        x_ast = x[i] - b_tau
        x_hat = a_new * x_hat_prev + a_new * omega_prev / (
            omega_prev + error_vars[i - 1]
        ) * (x_ast_prev - x_hat_prev)
        a2 = pow2(a_new, two)
        omega = omega0 * (1 - a2) + a2 * omega_prev * (
            1 - omega_prev / (omega_prev + error_vars[i - 1])
        )
        var = omega + error_vars[i]
        coef[i - 1] = rsqrt(2 * math.pi * var, minus_half)
        expo[i - 1] = -0.5 * (pow2(x_hat - x_ast, two) / var)
        omega_prev = omega
        x_hat_prev = x_hat
        x_ast_prev = x_ast


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
def _car_filter_rows(A, x, error_vars, mean_x, pts, two, minus_half):
    """:func:`_car_filter` for each parameter pair ``pts[k] = (sigma, tau)``."""
    k = pts.shape[0]
    n = x.size
    coef = np.empty((k, n - 1))
    expo = np.empty((k, n - 1))
    for r in range(k):
        sigma = pts[r, 0]
        tau = pts[r, 1]
        b = mean_x / tau
        omega0 = tau * pow2(sigma, two) / 2.0
        _car_filter_into(
            A[r], x, b * tau, omega0, error_vars, two, minus_half, coef[r], expo[r]
        )
    return coef, expo


@numba.jit(**_JIT)
def _row_sums(L):
    out = np.empty(L.shape[0])
    for r in range(L.shape[0]):
        total = 0.0
        for i in range(L.shape[1]):
            total = total + L[r, i]
        out[r] = -total
    return out


def car_neg_loglik_many(pts, neg_dt, x, error_vars, mean_x):
    """:func:`car_neg_loglik` at every row of ``pts`` (bit-identical values).

    numpy's exponential and logarithm are element-wise, so computing them on
    a ``(len(pts), n - 1)`` array gives each row the bits of the one-row call.
    """
    A = np.exp(neg_dt[None, :] / pts[:, 1:2])
    coef, expo = _car_filter_rows(A, x, error_vars, mean_x, pts, 2.0, -0.5)
    return _row_sums(np.log(coef * (np.exp(expo) + EPSILON)))


@numba.jit(**_JIT)
def _car_guess(sigma, tau, neg_dt, x, error_vars, mean_x):
    """The CAR likelihood with libm's exp/log and plain products, and its scale.

    The value is within a few ULP per term of :func:`car_neg_loglik` (numpy's
    exp/log may differ from libm's in the last bits, ``pow`` from a product
    by one ULP): the optimiser uses it wherever a comparison is decided by a
    wide margin. ``scale`` is the sum over the terms of the absolute values
    of their two parts (the Gaussian exponent and the log normalisation):
    the difference from the exact value is a tiny multiple of it.
    """
    n = x.size
    b_tau = (mean_x / tau) * tau
    omega0 = tau * sigma * sigma / 2.0
    omega_prev = omega0
    x_hat_prev = 0.0
    x_ast_prev = x[0] - b_tau
    total = 0.0
    scale = 0.0
    for i in range(1, n):
        a_new = math.exp(neg_dt[i - 1] / tau)
        x_ast = x[i] - b_tau
        x_hat = a_new * x_hat_prev + a_new * omega_prev / (
            omega_prev + error_vars[i - 1]
        ) * (x_ast_prev - x_hat_prev)
        a2 = a_new * a_new
        omega = omega0 * (1 - a2) + a2 * omega_prev * (
            1 - omega_prev / (omega_prev + error_vars[i - 1])
        )
        var = omega + error_vars[i]
        d = x_hat - x_ast
        expo = -0.5 * (d * d / var)
        norm = 0.5 * math.log(2 * math.pi * var)
        if expo > -600.0:  # exp(expo) >> EPSILON: log(coef * exp(expo))
            total = total + (expo - norm)
        else:
            total = total + math.log(
                1.0 / math.sqrt(2 * math.pi * var) * (math.exp(expo) + EPSILON)
            )
        scale = scale + (abs(expo) + abs(norm))
        omega_prev = omega
        x_hat_prev = x_hat
        x_ast_prev = x_ast
    return -total, scale


@numba.jit(**_JIT)
def _same(a, b):
    return a == b or (a != a and b != b)


@numba.jit(**_JIT)
def _clip(v, lo, hi):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


@numba.jit(**_JIT)
def _argsort3(f):
    """numpy's argsort of three values (insertion sort: stable, NaN last)."""
    idx = np.arange(3)
    for i in range(1, 3):
        j = i
        while j > 0:
            a = f[idx[j]]
            b = f[idx[j - 1]]
            if a < b or (b != b and a == a):
                tmp = idx[j]
                idx[j] = idx[j - 1]
                idx[j - 1] = tmp
                j -= 1
            else:
                break
    return idx


#: Relative margin (to a guess's scale) under which a comparison involving a
#: guessed likelihood value is decided with exact values instead.
CAR_TOL = 1e-12


@numba.jit(**_JIT)
def _check(ia, ib, pts, fv, sc, exact, need, tol, offset):
    """Mark the guessed values of evaluations ``ia`` and ``ib`` as needing
    exact values when comparing ``f[ia] - f[ib]`` with ``offset`` (0 for
    ``<``; the tolerance for the convergence test) is not decided by a margin
    larger than the guesses' possible error."""
    if ia < 0 or ib < 0 or (exact[ia] and exact[ib]):
        return
    if _same(pts[ia, 0], pts[ib, 0]) and _same(pts[ia, 1], pts[ib, 1]):
        return  # the same point: same value, guessed or exact
    a = fv[ia]
    b = fv[ib]
    bound = 0.0
    if not exact[ia]:
        bound += sc[ia]
    if not exact[ib]:
        bound += sc[ib]
    if math.isfinite(a) and math.isfinite(b):
        if offset == 0.0:
            if abs(a - b) > tol * bound:
                return
        elif abs(abs(a - b) - offset) > tol * bound:
            return
    if not exact[ia]:
        need[ia] = True
    if not exact[ib]:
        need[ib] = True


@numba.jit(**_JIT)
def _car_eval(p0, p1, nf, pts, fv, sc, exact, kp, kf, ks, ke, neg_dt, x, ev, mx):
    """Evaluation ``nf`` at ``(p0, p1)``: the previous run's value when the
    point is the same (exact or guessed), a fresh guess otherwise."""
    pts[nf, 0], pts[nf, 1] = p0, p1
    if nf < kp.shape[0] and _same(p0, kp[nf, 0]) and _same(p1, kp[nf, 1]):
        fv[nf], sc[nf], exact[nf] = kf[nf], ks[nf], ke[nf]
    else:
        fv[nf], sc[nf] = _car_guess(p0, p1, neg_dt, x, ev, mx)
        exact[nf] = False
    return fv[nf]


@numba.jit(**_JIT)
def _check_sorted(sidx, pts, fv, sc, exact, need, tol):
    _check(sidx[0], sidx[1], pts, fv, sc, exact, need, tol, 0.0)
    _check(sidx[0], sidx[2], pts, fv, sc, exact, need, tol, 0.0)
    _check(sidx[1], sidx[2], pts, fv, sc, exact, need, tol, 0.0)


@numba.jit(**_JIT)
def _car_vertex(
    r, sim, fsim, sidx, nf, pts, fv, sc, exact, kp, kf, ks, ke, neg_dt, x, ev, mx
):
    """Evaluate vertex ``r`` of the simplex as evaluation ``nf``; returns
    ``nf + 1``."""
    fsim[r] = _car_eval(
        sim[r, 0], sim[r, 1], nf, pts, fv, sc, exact, kp, kf, ks, ke,
        neg_dt, x, ev, mx,
    )  # fmt: skip
    sidx[r] = nf
    return nf + 1


@numba.jit(**_JIT)
def _car_start(pts, fv, sc, exact, need, tol, kp, kf, ks, ke, neg_dt, x, ev, mx):
    """scipy's initial simplex around (10, 0.5), evaluated and sorted."""
    lo, hi = 0.0, 100.0
    maxfun = pts.shape[0]
    sim = np.empty((3, 2))
    sim[0, 0], sim[0, 1] = 10.0, 0.5
    sim[1, 0], sim[1, 1] = (1 + 0.05) * 10.0, 0.5
    sim[2, 0], sim[2, 1] = 10.0, (1 + 0.05) * 0.5
    for r in range(3):
        for c in range(2):
            v = sim[r, c]
            if v > hi:
                v = 2 * hi - v
            sim[r, c] = _clip(v, lo, hi)
    fsim = np.full(3, np.inf)
    sidx = np.full(3, -1, dtype=np.int64)  # evaluation index of each vertex
    nf = 0
    for k in range(3):
        if nf >= maxfun:
            break
        nf = _car_vertex(
            k, sim, fsim, sidx, nf, pts, fv, sc, exact, kp, kf, ks, ke,
            neg_dt, x, ev, mx,
        )  # fmt: skip
    for _ in range(2):
        _check_sorted(sidx, pts, fv, sc, exact, need, tol)
        ind = _argsort3(fsim)
        sim = sim[ind].copy()
        fsim = fsim[ind].copy()
        sidx = sidx[ind].copy()
    return sim, fsim, sidx, nf


@numba.jit(**_JIT)
def _car_converged(sim, fsim, sidx, pts, fv, sc, exact, need, tol):
    """scipy's test ``max |x_i - x_0| <= xatol and max |f_i - f_0| <= fatol``
    (False as soon as one value is NaN), its comparisons checked."""
    converged = True
    for r in range(1, 3):
        for c in range(2):
            if not abs(sim[r, c] - sim[0, c]) <= 1e-4:
                converged = False
        _check(sidx[0], sidx[r], pts, fv, sc, exact, need, tol, 1e-4)
        if not abs(fsim[0] - fsim[r]) <= 1e-4:
            converged = False
    return converged


@numba.jit(**_JIT)
def _car_accept(k, val, sim, fsim, sidx, cand, cidx):
    """Candidate ``k`` (value ``val``) replaces the worst vertex."""
    sim[2, 0], sim[2, 1], fsim[2] = cand[k, 0], cand[k, 1], val
    sidx[2] = cidx[k]


@numba.jit(**_JIT)
def _car_steps(
    sim, fsim, sidx, cand, cidx, nf,
    pts, fv, sc, exact, need, tol, kp, kf, ks, ke, neg_dt, x, ev, mx,
):  # fmt: skip
    """Reflect, then maybe expand / contract / contract inside (scipy's
    order). Returns ``(nf, stop, doshrink)``."""
    maxfun = pts.shape[0]
    fx = np.empty(4)
    stop = False
    steps = np.array([0, -1])
    nsteps = 1
    j = 0
    doshrink = False
    while j < nsteps:
        s = steps[j]
        if nf >= maxfun:
            stop = True
            break
        val = _car_eval(
            cand[s, 0], cand[s, 1], nf, pts, fv, sc, exact, kp, kf, ks, ke,
            neg_dt, x, ev, mx,
        )  # fmt: skip
        cidx[s] = nf
        nf += 1
        fx[s] = val
        if s == 0:
            _check(nf - 1, sidx[0], pts, fv, sc, exact, need, tol, 0.0)
            if val < fsim[0]:
                steps[1] = 1
                nsteps = 2
            else:
                _check(nf - 1, sidx[1], pts, fv, sc, exact, need, tol, 0.0)
                if val < fsim[1]:
                    _car_accept(0, val, sim, fsim, sidx, cand, cidx)
                else:
                    _check(nf - 1, sidx[2], pts, fv, sc, exact, need, tol, 0.0)
                    steps[1] = 2 if val < fsim[2] else 3
                    nsteps = 2
        elif s == 1:
            _check(nf - 1, cidx[0], pts, fv, sc, exact, need, tol, 0.0)
            if val < fx[0]:
                _car_accept(1, val, sim, fsim, sidx, cand, cidx)
            else:
                _car_accept(0, fx[0], sim, fsim, sidx, cand, cidx)
        elif s == 2:
            _check(nf - 1, cidx[0], pts, fv, sc, exact, need, tol, 0.0)
            if val <= fx[0]:
                _car_accept(2, val, sim, fsim, sidx, cand, cidx)
            else:
                doshrink = True
        else:
            _check(nf - 1, sidx[2], pts, fv, sc, exact, need, tol, 0.0)
            if val < fsim[2]:
                _car_accept(3, val, sim, fsim, sidx, cand, cidx)
            else:
                doshrink = True
        j += 1
    return nf, stop, doshrink


@numba.jit(**_JIT)
def _car_shrink(
    sim, fsim, sidx, nf, pts, fv, sc, exact, kp, kf, ks, ke, neg_dt, x, ev, mx
):
    """Shrink the simplex towards its best vertex. Returns ``(nf, stop)``."""
    for r in range(1, 3):
        for c in range(2):
            sim[r, c] = _clip(sim[0, c] + 0.5 * (sim[r, c] - sim[0, c]), 0.0, 100.0)
        if nf >= pts.shape[0]:
            return nf, True
        nf = _car_vertex(
            r, sim, fsim, sidx, nf, pts, fv, sc, exact, kp, kf, ks, ke,
            neg_dt, x, ev, mx,
        )  # fmt: skip
    return nf, False


@numba.jit(**_JIT)
def car_nelder_mead(
    neg_dt, x, error_vars, mean_x, known_pts, known_f, known_s, known_exact, maxfun, tol
):
    """scipy's bounded Nelder-Mead (1.17, defaults) on the CAR likelihood, as
    feets runs it: start (10, 0.5), bounds [0, 100]^2, xatol = fatol = 1e-4,
    at most ``maxfun`` evaluations and iterations.

    The ``i``-th evaluation reuses ``known_f[i]`` (exact where
    ``known_exact[i]``, from :func:`car_neg_loglik_many`) when it is at
    ``known_pts[i]``, and is guessed by :func:`_car_guess` otherwise. Every
    comparison the optimiser makes is checked: when a guessed value takes
    part and the margin is within ``tol`` times the guesses' scale, the
    evaluations are marked in ``need``. Returns the result and, per
    evaluation, the point, value, scale, whether it was exact and whether it
    is needed exactly. With ``need`` all False the run took exactly the path
    scipy takes with feets' likelihood.
    """
    lo, hi = 0.0, 100.0
    pts = np.empty((maxfun, 2))
    fv = np.empty(maxfun)
    sc = np.zeros(maxfun)
    exact = np.zeros(maxfun, dtype=np.bool_)
    need = np.zeros(maxfun, dtype=np.bool_)
    kp, kf, ks, ke = known_pts, known_f, known_s, known_exact
    ev, mx = error_vars, mean_x
    sim, fsim, sidx, nf = _car_start(
        pts, fv, sc, exact, need, tol, kp, kf, ks, ke, neg_dt, x, ev, mx
    )
    iterations = 1
    xbar = np.empty(2)
    cand = np.empty((4, 2))  # xr, xe, xc, xcc
    cidx = np.full(4, -1, dtype=np.int64)
    while nf < maxfun and iterations < maxfun:
        if _car_converged(sim, fsim, sidx, pts, fv, sc, exact, need, tol):
            break
        for c in range(2):
            xbar[c] = (sim[0, c] + sim[1, c]) / 2
            cand[0, c] = _clip(2 * xbar[c] - 1 * sim[2, c], lo, hi)
            cand[1, c] = _clip(3 * xbar[c] - 2 * sim[2, c], lo, hi)
            cand[2, c] = _clip(1.5 * xbar[c] - 0.5 * sim[2, c], lo, hi)
            cand[3, c] = _clip((1 - 0.5) * xbar[c] + 0.5 * sim[2, c], lo, hi)
        nf, stop, doshrink = _car_steps(
            sim, fsim, sidx, cand, cidx, nf,
            pts, fv, sc, exact, need, tol, kp, kf, ks, ke, neg_dt, x, ev, mx,
        )  # fmt: skip
        if doshrink and not stop:
            nf, stop = _car_shrink(
                sim, fsim, sidx, nf, pts, fv, sc, exact, kp, kf, ks, ke,
                neg_dt, x, ev, mx,
            )  # fmt: skip
        if not stop:
            iterations += 1
        _check_sorted(sidx, pts, fv, sc, exact, need, tol)
        ind = _argsort3(fsim)
        sim = sim[ind].copy()
        fsim = fsim[ind].copy()
        sidx = sidx[ind].copy()
    p = np.empty(2)
    for c in range(2):
        p[c] = sim[0, c]
    return (
        p,
        pts[:nf].copy(),
        fv[:nf].copy(),
        sc[:nf].copy(),
        exact[:nf].copy(),
        need[:nf].copy(),
    )


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
def _lag(ti, tj, T):
    return math.floor(abs(ti - tj) / T + 0.5)


@numba.jit(**_JIT)
def slotted_sums(t, d, T, k_lo, k_hi):
    """Sum of d_i d_j and pair count per lag k = floor(|t_i - t_j| / T + 0.5).

    Only pairs i < j with ``k_lo <= k < k_hi`` are counted, visited in
    row-major order (as ``numpy.where`` on the pair matrix does). When ``t``
    is sorted the lag grows with ``j``: each row starts at its first pair
    with ``k >= k_lo`` (bisection) and stops at the first with ``k >= k_hi``,
    visiting the same pairs in the same order.
    """
    nk = k_hi
    sums = np.zeros(nk)
    counts = np.zeros(nk, dtype=np.int64)
    n = t.size
    is_sorted = True
    for i in range(n - 1):
        if t[i + 1] < t[i]:
            is_sorted = False
            break
    for i in range(n):
        j0 = i + 1
        if is_sorted and k_lo > 0:
            lo, hi = i + 1, n  # first j with lag >= k_lo
            while lo < hi:
                mid = (lo + hi) // 2
                if _lag(t[i], t[mid], T) >= k_lo:
                    hi = mid
                else:
                    lo = mid + 1
            j0 = lo
        for j in range(j0, n):
            k = _lag(t[i], t[j], T)
            if k >= k_hi:
                if is_sorted:
                    break
                continue
            if k >= k_lo:
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


# ----------------------------------------------------------------------------
# Harmonic fits (feets' FourierComponents): y ~ a sin(w) + b cos(w) + c
# ----------------------------------------------------------------------------


@numba.jit(**_JIT)
def harmonic_fits(ts, mag, freqs):
    """Amplitudes and phases of 4 harmonics of each of 3 frequencies.

    For frequency ``i`` each harmonic ``j`` is fitted by linear least squares
    to the residual left by the previous frequencies; the four fits are then
    subtracted. The 3x3 normal equations are solved with partial pivoting;
    ``ok`` is False when a pivot is below 1e-9 of the largest diagonal term
    (ill-conditioned: the caller then uses an SVD solver).
    """
    n = ts.size
    amps = np.empty((3, 4))
    phases = np.empty((3, 4))
    res = mag.copy()
    omag = np.empty(n)
    sn = np.empty(n)
    cs = np.empty(n)
    G = np.empty((3, 3))
    r = np.empty(3)
    for i in range(3):
        omag[:] = res
        for j in range(4):
            w0 = 2 * math.pi * (j + 1) * freqs[i]
            ss = sc = cc = s1 = c1 = ys = yc = y1 = 0.0
            for q in range(n):
                w = w0 * ts[q]
                a = math.sin(w)
                b = math.cos(w)
                sn[q] = a
                cs[q] = b
                ss += a * a
                sc += a * b
                cc += b * b
                s1 += a
                c1 += b
                ys += omag[q] * a
                yc += omag[q] * b
                y1 += omag[q]
            G[0, 0], G[0, 1], G[0, 2] = ss, sc, s1
            G[1, 0], G[1, 1], G[1, 2] = sc, cc, c1
            G[2, 0], G[2, 1], G[2, 2] = s1, c1, float(n)
            r[0], r[1], r[2] = ys, yc, y1
            scale = max(ss, max(cc, float(n)))
            for c in range(3):  # elimination with partial pivoting
                piv = c
                for rr in range(c + 1, 3):
                    if abs(G[rr, c]) > abs(G[piv, c]):
                        piv = rr
                if not abs(G[piv, c]) > 1e-9 * scale:
                    return amps, phases, False
                if piv != c:
                    for cc2 in range(3):
                        tmp = G[c, cc2]
                        G[c, cc2] = G[piv, cc2]
                        G[piv, cc2] = tmp
                    tmp = r[c]
                    r[c] = r[piv]
                    r[piv] = tmp
                for rr in range(c + 1, 3):
                    fac = G[rr, c] / G[c, c]
                    for cc2 in range(c, 3):
                        G[rr, cc2] -= fac * G[c, cc2]
                    r[rr] -= fac * r[c]
            c0 = r[2] / G[2, 2]
            b0 = (r[1] - G[1, 2] * c0) / G[1, 1]
            a0 = (r[0] - G[0, 1] * b0 - G[0, 2] * c0) / G[0, 0]
            amps[i, j] = math.sqrt(a0 * a0 + b0 * b0)
            phases[i, j] = math.atan(b0 / a0)
            for q in range(n):
                res[q] = res[q] - (a0 * sn[q] + b0 * cs[q] + c0)
    return amps, phases, True


# ----------------------------------------------------------------------------
# Con, PairSlopeTrend, Rcs (feets' formulas; mean and std from numpy)
# ----------------------------------------------------------------------------


@numba.jit(**_JIT)
def basic_features(m, mean, sigma):
    """Con, PairSlopeTrend and Rcs of ``m`` given numpy's mean and std."""
    n = m.size
    hi = mean + 2 * sigma
    lo = mean - 2 * sigma
    if n < 3:
        con = 0.0
    else:
        count = 0
        for i in range(n - 2):
            if (
                (m[i] > hi or m[i] < lo)
                and (m[i + 1] > hi or m[i + 1] < lo)
                and (m[i + 2] > hi or m[i + 2] < lo)
            ):
                count += 1
        con = count * 1.0 / (n - 3 + 1)
    start = max(n - 30, 0)
    up = 0
    down = 0
    for i in range(start, n - 1):
        if m[i + 1] - m[i] > 0:
            up += 1
        else:
            down += 1
    pst = float(up - down) / 30
    scale = 1.0 / (n * sigma)
    total = 0.0
    s_max = -np.inf
    s_min = np.inf
    for i in range(n):
        total = total + (m[i] - mean)
        v = total * scale
        s_max = max(s_max, v)
        s_min = min(s_min, v)
    return con, pst, s_max - s_min
