"""LSBGNet: the DeepShadows classifier (Tanoglidis et al. 2021) as a skorch estimator."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from skorch import NeuralNetBinaryClassifier
from skorch.utils import is_dataset
from torch import nn

from ..utils._torch import seed_everything
from ..utils._validation import check_stamps, split_stamps_input
from ._gradcam import grad_cam
from ._lsbg_modules import DeepShadowsCNN

__all__ = ["LSBGNet"]


def check_binary_labels(y, *, name: str = "y") -> np.ndarray:
    """Return ``y`` as float32 0/1 labels, or raise naming the bad values."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one 0/1 label per stamp); got shape {y.shape}."
        )
    if y.dtype.kind == "b":
        return y.astype(np.float32)
    if y.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must hold binary labels 0 (artifact) and 1 (LSBG); got dtype "
            f"{y.dtype} with values {np.unique(y)[:5].tolist()}. Encode the labels "
            "with sklearn.preprocessing.LabelEncoder first."
        )
    bad = np.setdiff1d(
        np.unique(y[np.isfinite(y)] if y.dtype.kind == "f" else y), [0, 1]
    )
    if bad.size or (y.dtype.kind == "f" and not np.isfinite(y).all()):
        raise ValueError(
            f"{name} must hold binary labels 0 (artifact) and 1 (LSBG); found "
            f"{np.unique(y)[:6].tolist()}. Map the classes to 0/1 (e.g. "
            "y == 'LSBG') before fitting."
        )
    return y.astype(np.float32)


class LSBGNet(NeuralNetBinaryClassifier):
    """DeepShadows CNN classifier of LSBGs versus artifacts (Tanoglidis et al. 2021).

    A :class:`skorch.NeuralNetBinaryClassifier` whose defaults are the set-up
    of Tanoglidis et al. (2021), §3.2, §4.2 and Table 1, translated from
    Keras: the network :class:`DeepShadowsCNN` (Glorot-uniform
    initialisation, BatchNorm momentum 0.01 / eps 1e-3), binary
    cross-entropy, Adadelta with ``lr=0.1``, ρ=0.95, ε=1e-7, batches of 64,
    100 epochs, and Keras-style L2 regularisation: ``l2_conv·Σw²`` over the
    convolution kernels and ``l2_dense·Σw²`` over the first dense kernel are
    added to the loss (biases, BatchNorm and the output layer are not
    penalised). :meth:`predict_proba` returns ``[P(artifact), P(LSBG)]``.

    Stamps in flux units (e.g. nanomaggies, as from
    :func:`~skastro.datasets.make_lsbg_stamps`) are stretched with
    ``asinh(x / softening)`` before entering the network, as survey
    colour cutouts (the paper's input) are asinh-stretched; pass
    ``softening=None`` for stamps already scaled.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=DeepShadowsCNN
        The network; its arguments are reachable as ``module__<name>``
        (e.g. ``module__dropout=0.3``) for grid searches.
    criterion : default=torch.nn.BCEWithLogitsLoss
    optimizer : default=torch.optim.Adadelta
        Adadelta gets Keras' ``rho=0.95`` and ``eps=1e-7`` unless
        ``optimizer__rho`` / ``optimizer__eps`` are given (PyTorch's own
        defaults are 0.9 and 1e-6). Any other optimizer is used as given.
    lr : float, default=0.1
        Learning rate (the paper's η).
    max_epochs : int, default=100
    batch_size : int, default=64
    train_split : callable or None, default=None
        The paper trains on the whole training set (its validation set was
        only monitored). Pass e.g. ``skorch.dataset.ValidSplit(5)`` to monitor
        a held-out fraction.
    l2_conv : float, default=0.13
        Keras L2 factor of the convolution kernels.
    l2_dense : float, default=0.12
        Keras L2 factor of the first dense kernel.
    softening : float or None, default=0.01
        Softening of the asinh stretch, in the stamps' flux units per pixel
        (0.01 nmgy/pixel is about μ = 26.2 mag/arcsec² on 0.469″ pixels).
    random_state : int, RandomState instance or None, default=None
        Seeds torch when the net is initialised (weights, dropout, batch
        order) and before :meth:`fine_tune`.
    device : str, default="cpu"
        ``"cuda"`` to train on a GPU.
    verbose : int, default=0
        1 prints skorch's epoch table.
    **kwargs
        Any other :class:`skorch.NeuralNet` parameter (``callbacks``,
        ``warm_start``, ``iterator_train__num_workers``, ...).

    Attributes
    ----------
    module_ : DeepShadowsCNN
        The trained network.
    history_ : skorch.History
        Per-epoch losses (including the L2 penalty, as Keras reports them).
    fine_tuned_ : list of dict
        One entry per :meth:`fine_tune` call (``lr``, ``max_epochs``,
        ``batch_size``, ``n_samples``).

    See Also
    --------
    skastro.sources.SourceFeatures : Features of the paper's SVM/RF baselines.
    skastro.nn.grad_cam : Class activation maps (also :meth:`grad_cam`).

    Notes
    -----
    ``X`` is an array (n_objects, 3, 64, 64) — bands g, r, z first, then
    (y, x) pixels — or a mapping holding it under ``"stamps"``. Stamps in
    the paper's channels-last layout are refused with the fix to apply;
    NaN pixels are refused (fill them first). ``y`` holds 0 (artifact) and
    1 (LSBG).

    Fine-tuning on a second survey (Tanoglidis et al. 2021, §5: whole network, η=0.005,
    30 epochs, batches of 16) is :meth:`fine_tune`; the same thing through
    the plain estimator API is
    ``net.set_params(warm_start=True, lr=0.005, max_epochs=30, batch_size=16)``
    followed by ``net.fit(X2, y2)`` (which keeps the Adadelta state).

    Examples
    --------
    >>> from skastro.datasets import make_lsbg_stamps
    >>> from skastro.nn import LSBGNet
    >>> X, y = make_lsbg_stamps(16, return_X_y=True, random_state=0)
    >>> net = LSBGNet(max_epochs=1, random_state=0).fit(X, y)
    >>> net.predict_proba(X).shape
    (16, 2)
    """

    def __init__(
        self,
        module=DeepShadowsCNN,
        *,
        criterion=nn.BCEWithLogitsLoss,
        optimizer=torch.optim.Adadelta,
        lr=0.1,
        max_epochs=100,
        batch_size=64,
        train_split=None,
        l2_conv=0.13,
        l2_dense=0.12,
        softening=0.01,
        random_state=None,
        device="cpu",
        verbose=0,
        **kwargs,
    ):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.l2_conv = l2_conv
        self.l2_dense = l2_dense
        self.softening = softening
        self.random_state = random_state

    # ------------------------------------------------------------------ set-up
    def _check_own_params(self) -> None:
        for name in ("l2_conv", "l2_dense"):
            value = getattr(self, name)
            if not isinstance(value, Real) or not value >= 0:
                raise ValueError(f"{name} must be a float >= 0; got {value!r}.")
        s = self.softening
        if s is not None and (not isinstance(s, Real) or not s > 0):
            raise ValueError(
                f"softening must be a float > 0 (flux per pixel) or None; got {s!r}."
            )

    def initialize(self):
        """Check the parameters, seed torch from ``random_state`` and build."""
        self._check_own_params()
        seed_everything(self.random_state)
        return super().initialize()

    def get_params_for_optimizer(self, prefix, named_parameters):
        """Optimizer arguments, with Keras' Adadelta ρ and ε as defaults."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and self.optimizer is torch.optim.Adadelta:
            kwargs.setdefault("rho", 0.95)
            kwargs.setdefault("eps", 1e-7)
        return args, kwargs

    # ------------------------------------------------------------------- data
    def _expected_shape(self) -> tuple[int, int]:
        return (
            int(getattr(self, "module__in_channels", 3)),
            int(getattr(self, "module__image_size", 64)),
        )

    def prepare_stamps(self, X) -> np.ndarray:
        """Validate stamps and apply the asinh stretch: the network's input.

        Parameters
        ----------
        X : array-like of shape (n_objects, 3, 64, 64), or a mapping with
            the stamps under ``"stamps"``.

        Returns
        -------
        inputs : ndarray of float32, shape (n_objects, 3, 64, 64)
        """
        stamps, _ = split_stamps_input(X)
        n_bands, size = self._expected_shape()
        arr = check_stamps(stamps, n_bands=n_bands, size=size, allow_nan=False)
        if self.softening is not None:
            arr = np.arcsinh(arr / np.float32(self.softening)).astype(np.float32)
        return arr

    def get_dataset(self, X, y=None):
        """Validate ``X`` (and ``y``) and wrap them in a skorch Dataset."""
        if is_dataset(X):
            return X
        X = self.prepare_stamps(X)
        if y is not None:
            y = check_binary_labels(y)
            if len(y) != len(X):
                raise ValueError(
                    f"X holds {len(X)} stamps but y holds {len(y)} labels."
                )
        return super().get_dataset(X, y)

    # ------------------------------------------------------------------- loss
    def _regularised_kernels(self) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        module = self.module_
        if hasattr(module, "conv_kernels"):
            convs = module.conv_kernels()
        else:
            convs = [m.weight for m in module.modules() if isinstance(m, nn.Conv2d)]
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        dense = (
            module.dense.weight
            if hasattr(module, "dense")
            else (linears[0].weight if linears else None)
        )
        return convs, dense

    def l2_penalty(self) -> torch.Tensor:
        """Keras L2 terms: ``l2_conv·Σ conv kernels² + l2_dense·Σ dense kernel²``."""
        convs, dense = self._regularised_kernels()
        penalty = sum(w.pow(2).sum() for w in convs) * self.l2_conv
        if dense is not None:
            penalty = penalty + self.l2_dense * dense.pow(2).sum()
        return penalty

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Binary cross-entropy plus the L2 penalty (as Keras' total loss)."""
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        return loss + self.l2_penalty()

    # ------------------------------------------------------------ fine-tuning
    def fine_tune(self, X, y, *, lr=0.005, max_epochs=30, batch_size=16, **fit_params):
        """Retrain the whole fitted network on a small sample of a new survey.

        Tanoglidis et al. (2021, §5): all layers, Adadelta with η=0.005, 30 epochs, batches
        of 16, starting from a fresh optimizer state (as recompiling the
        Keras model). The estimator's own ``lr``, ``max_epochs`` and
        ``batch_size`` are left as they were, so :func:`~sklearn.base.clone`
        still gives the original recipe; the call is recorded in
        ``fine_tuned_``.

        Parameters
        ----------
        X : array-like of shape (n_objects, 3, 64, 64)
            Stamps of the new survey.
        y : array-like of shape (n_objects,)
            0/1 labels.
        lr : float, default=0.005
        max_epochs : int, default=30
        batch_size : int, default=16
        **fit_params
            Passed to :meth:`partial_fit`.

        Returns
        -------
        self : LSBGNet
        """
        self.check_is_fitted()
        saved = {
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            "batch_size": self.batch_size,
        }
        try:
            self.set_params(lr=lr, max_epochs=max_epochs, batch_size=batch_size)
            self.initialize_optimizer()
            seed_everything(self.random_state)
            self.partial_fit(X, y, **fit_params)
        finally:
            self.set_params(**saved)
        record = {
            "lr": lr,
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "n_samples": len(split_stamps_input(X)[0]),
        }
        self.fine_tuned_ = [*getattr(self, "fine_tuned_", []), record]
        return self

    # --------------------------------------------------------------- Grad-CAM
    def grad_cam(self, X, *, positive: bool = True) -> np.ndarray:
        """Grad-CAM maps of the last convolutional layer (Tanoglidis et al. 2021, §4.3).

        Parameters
        ----------
        X : array-like of shape (n_objects, 3, 64, 64)
        positive : bool, default=True
            Explain P(LSBG); False explains the artifact class.

        Returns
        -------
        cams : ndarray of shape (n_objects, 64, 64)
            Maps in [0, 1] on the stamp's pixel grid.
        """
        self.check_is_fitted()
        return grad_cam(
            self.module_,
            self.prepare_stamps(X),
            positive=positive,
            batch_size=self.batch_size,
            device=self.device,
        )
