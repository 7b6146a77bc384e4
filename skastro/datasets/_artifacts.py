"""Inject instrumental artifacts into stamps, to test anomaly ranking.

Cavuoti et al. (ULISSE) (§3.4–3.5) ranks stamps by how unusual they are in a feature space
and finds "a lot of problematic images" first. To measure that on simulated
data, :func:`inject_stamp_artifacts` spoils a known subset of stamps with
the defects wide-field imaging produces:

- ``"cosmic_ray"``: a short, sharp track of a few pixels (1–2 pixels wide,
  unresolved by the PSF) in one band only — a cosmic-ray hit lands in one
  exposure;
- ``"satellite_trail"``: a straight line crossing the whole stamp in every
  band, with a Gaussian cross-section of about the seeing (σ ≈ 1 pixel);
- ``"bad_column"``: one detector column offset in one band (a hot or
  charge-trap column);
- ``"saturation_bleed"``: a bright vertical bleed trail through the stamp
  centre in every band, as charge bleeds from a saturated star.

Amplitudes are set per stamp and band relative to the stamp's own pixel
distribution (a multiple of its robust spread above its median), so the
defects are as visible on faint stamps as on bright ones.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ..utils._params import Interval, validate_params

__all__ = ["ARTIFACT_KINDS", "inject_stamp_artifacts"]

#: The defects :func:`inject_stamp_artifacts` can add.
ARTIFACT_KINDS: tuple[str, ...] = (
    "cosmic_ray",
    "satellite_trail",
    "bad_column",
    "saturation_bleed",
)


def _robust_level(img: np.ndarray) -> tuple[float, float]:
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return 0.0, 1.0
    med = float(np.median(finite))
    spread = float(np.percentile(finite, 99) - med)
    return med, max(spread, 1e-6)


@validate_params(
    {
        "stamps": ["array-like"],
        "fraction": [Interval(Real, 0, 1, closed="both")],
        "kinds": [list, tuple],
        "strength": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }
)
def inject_stamp_artifacts(
    stamps,
    *,
    fraction: float = 0.03,
    kinds: tuple[str, ...] = ARTIFACT_KINDS,
    strength: float = 2.0,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Copy ``stamps`` and spoil a random ``fraction`` of them with artifacts.

    Parameters
    ----------
    stamps : array-like of shape (n, n_bands, height, width)
        Stamps, channels first (any flux unit). Not modified.
    fraction : float, default=0.03
        Fraction of the stamps that get one artifact (rounded, at least one
        when ``fraction > 0``).
    kinds : sequence of str, default=ARTIFACT_KINDS
        Artifact kinds drawn uniformly (see the module docstring).
    strength : float, default=2.0
        Peak amplitude in units of the stamp band's robust spread (99th
        percentile minus median): 2 makes a defect as bright as the bright
        end of the stamp's own pixels.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : sklearn.utils.Bunch
        ``stamps`` (float32 copy with the artifacts), ``is_artifact`` (bool,
        shape ``(n,)``) and ``kind`` (str array, ``""`` for clean stamps).

    Examples
    --------
    >>> import numpy as np
    >>> from skastro.datasets import inject_stamp_artifacts
    >>> clean = np.random.default_rng(0).normal(size=(100, 3, 32, 32))
    >>> out = inject_stamp_artifacts(clean, fraction=0.05, random_state=0)
    >>> int(out.is_artifact.sum()), sorted(set(out.kind.tolist()) - {""})
    (5, ['bad_column', 'cosmic_ray', 'saturation_bleed'])
    """
    arr = np.array(stamps, dtype=np.float32, copy=True)
    if arr.ndim != 4:
        raise ValueError(
            f"stamps must have shape (n, n_bands, height, width); got {arr.shape}."
        )
    unknown = sorted(set(kinds) - set(ARTIFACT_KINDS))
    if unknown or not kinds:
        raise ValueError(
            f"unknown artifact kind(s) {unknown or list(kinds)}; choose from "
            f"{list(ARTIFACT_KINDS)}."
        )
    rng = check_random_state(random_state)
    n, n_bands, h, w = arr.shape
    n_bad = int(round(fraction * n))
    if fraction > 0:
        n_bad = max(n_bad, 1)
    chosen = rng.choice(n, size=n_bad, replace=False)
    kind = np.full(n, "", dtype=object)
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    for i in chosen:
        k = str(kinds[rng.randint(len(kinds))])
        kind[i] = k
        levels = [_robust_level(arr[i, b]) for b in range(n_bands)]
        if k == "cosmic_ray":
            b = rng.randint(n_bands)
            length = rng.randint(2, 6)
            angle = rng.uniform(0, np.pi)
            y0, x0 = rng.uniform(4, h - 4), rng.uniform(4, w - 4)
            for t in range(length):
                y = int(round(y0 + t * np.sin(angle)))
                x = int(round(x0 + t * np.cos(angle)))
                if 0 <= y < h and 0 <= x < w:
                    arr[i, b, y, x] += 3 * strength * levels[b][1]
        elif k == "satellite_trail":
            angle = rng.uniform(0, np.pi)
            yc, xc = rng.uniform(0.3 * h, 0.7 * h), rng.uniform(0.3 * w, 0.7 * w)
            dist = (yy - yc) * np.cos(angle) - (xx - xc) * np.sin(angle)
            profile = np.exp(-0.5 * dist**2)
            for b in range(n_bands):
                arr[i, b] += (strength * levels[b][1] * profile).astype(np.float32)
        elif k == "bad_column":
            b = rng.randint(n_bands)
            col = rng.randint(w)
            arr[i, b, :, col] += strength * levels[b][1]
        else:  # saturation_bleed
            half_width = 0.8
            profile = np.exp(-0.5 * ((xx - (w - 1) / 2) / half_width) ** 2)
            taper = np.exp(-0.5 * ((yy - (h - 1) / 2) / (0.35 * h)) ** 2)
            for b in range(n_bands):
                arr[i, b] += (3 * strength * levels[b][1] * profile * taper).astype(
                    np.float32
                )
    return Bunch(stamps=arr, is_artifact=kind != "", kind=kind.astype(str))
