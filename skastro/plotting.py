"""Figures of the papers' comparisons: colour stamps, Grad-CAM, ROC curves.

matplotlib is imported inside the functions, so ``import skastro.plotting``
stays light.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_grad_cam", "plot_roc_curves", "plot_stamp_gallery", "stamps_to_rgb"]


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
    """Show stamps with their Grad-CAM maps overlaid (Tanoglidis et al. 2021, Fig. 6).

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
    """ROC curves of several classifiers on one set (Tanoglidis et al. 2021, Fig. 4a).

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


def plot_stamp_gallery(
    images,
    *,
    titles: Sequence[str] | None = None,
    highlight: Sequence[bool] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    fig=None,
):
    """Show stamps in a grid, optionally framing some of them in red.

    For galleries of query results, nearest neighbours or the most unusual
    stamps of an anomaly ranking (:func:`skastro.neighbors.rank_anomalies`).

    Parameters
    ----------
    images : array-like of shape (n, height, width) or (n, height, width, 3)
        One grey-level or RGB image per stamp (e.g. one band, the maximum
        over bands, or :func:`stamps_to_rgb`). Grey images are scaled per
        stamp between their 1st and 99.5th percentiles.
    titles : sequence of str, optional
        One title per stamp.
    highlight : sequence of bool, optional
        Stamps framed in red (e.g. known artifacts among the top of a ranking).
    ncols : int, default=8
        Stamps per row.
    cmap : str, default="gray"
        Colour map of grey-level images.
    fig : matplotlib.figure.Figure, optional

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    imgs = np.asarray(images, dtype=float)
    if imgs.ndim not in (3, 4) or (imgs.ndim == 4 and imgs.shape[-1] != 3):
        raise ValueError(
            "images must have shape (n, height, width) or (n, height, width, 3); "
            f"got {imgs.shape}."
        )
    n = len(imgs)
    for name, seq in (("titles", titles), ("highlight", highlight)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{name} has {len(seq)} entries for {n} images.")
    ncols = max(1, min(ncols, n))
    nrows = max(1, int(np.ceil(n / ncols)))
    if fig is None:
        fig = plt.figure(figsize=(1.3 * ncols, 1.4 * nrows + 0.2))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for i in range(n):
        ax = axes.ravel()[i]
        img = np.nan_to_num(imgs[i])
        if img.ndim == 2:
            lo, hi = np.percentile(img, [1, 99.5])
            ax.imshow(img, origin="lower", cmap=cmap, vmin=lo, vmax=max(hi, lo + 1e-12))
        else:
            ax.imshow(np.clip(img, 0, 1), origin="lower")
        if highlight is not None and highlight[i]:
            ax.set_frame_on(True)
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2.5)
        if titles is not None:
            ax.set_title(titles[i], fontsize=7)
    fig.tight_layout()
    return fig
