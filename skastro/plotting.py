"""Figures of the papers' comparisons: colour stamps, Grad-CAM, ROC curves.

matplotlib is imported inside the functions, so ``import skastro.plotting``
stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_grad_cam", "plot_roc_curves", "stamps_to_rgb"]


def stamps_to_rgb(stamps, *, softening: float = 0.01, maximum: float | None = None):
    """Colour images of g, r, z stamps with an asinh stretch (Lupton et al. 1999).

    Parameters
    ----------
    stamps : array-like of shape (n, 3, height, width) or (3, height, width)
        Bands g, r, z (channels first), in flux per pixel.
    softening : float, default=0.01
        Softening of ``asinh(x / softening)`` in the stamps' flux units.
    maximum : float, optional
        Stretched value shown as white; default the 99.5th percentile.

    Returns
    -------
    rgb : ndarray of shape (n, height, width, 3) or (height, width, 3)
        Values in [0, 1]: red = z, green = r, blue = g.
    """
    arr = np.asarray(stamps, dtype=float)
    single = arr.ndim == 3
    if single:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] != 3:
        raise ValueError(
            f"stamps must have shape (n, 3, height, width) with bands g, r, z; got "
            f"{arr.shape}."
        )
    s = np.arcsinh(np.nan_to_num(arr) / softening)
    top = np.percentile(s, 99.5) if maximum is None else maximum
    rgb = np.clip(s[:, ::-1].transpose(0, 2, 3, 1) / max(top, 1e-12), 0, 1)
    return rgb[0] if single else rgb


def plot_grad_cam(
    stamps,
    cams,
    *,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    alpha: float = 0.45,
    cmap: str = "jet",
    softening: float = 0.01,
    fig=None,
):
    """Show stamps with their Grad-CAM maps overlaid (seed 003 Fig. 6).

    Each object takes two panels side by side: the colour stamp, and the
    same stamp with the map (``cmap``, transparency ``alpha``) on top.

    Parameters
    ----------
    stamps : array-like of shape (n, 3, height, width)
        Bands g, r, z, flux per pixel.
    cams : array-like of shape (n, height, width)
        Maps in [0, 1], e.g. from :meth:`skastro.nn.LSBGNet.grad_cam`.
    titles : sequence of str, optional
        One title per object (e.g. ``"TP  P=0.93"``).
    ncols : int, default=4
        Objects per row.
    alpha : float, default=0.45
    cmap : str, default="jet"
    softening : float, default=0.01
        Stretch of :func:`stamps_to_rgb`.
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    rgb = stamps_to_rgb(stamps, softening=softening)
    cams = np.asarray(cams, dtype=float)
    if cams.shape != rgb.shape[:3]:
        raise ValueError(
            f"cams must have shape {rgb.shape[:3]} (one map per stamp, on its "
            f"pixel grid); got {cams.shape}."
        )
    n = len(rgb)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    if fig is None:
        fig = plt.figure(figsize=(2.6 * ncols, 1.4 * nrows + 0.2))
    axes = fig.subplots(nrows, 2 * ncols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, ncols)
        a1, a2 = axes[r, 2 * c], axes[r, 2 * c + 1]
        a1.imshow(rgb[i], origin="lower")
        a2.imshow(rgb[i], origin="lower")
        a2.imshow(cams[i], origin="lower", cmap=cmap, alpha=alpha, vmin=0, vmax=1)
        if titles is not None:
            a1.set_title(titles[i], fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def plot_roc_curves(
    results: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    ax=None,
):
    """ROC curves of several classifiers on one set (seed 003 Fig. 4a).

    Parameters
    ----------
    results : dict of name -> (y_true, y_score)
        0/1 labels and scores (probabilities or decision values).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (y_true, y_score) in results.items():
        fpr, tpr, _ = roc_curve(y_true, y_score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y_true, y_score):.3f})")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (completeness)")
    ax.legend(loc="lower right", fontsize=8)
    return ax
