"""LSBGNet: the DeepShadows classifier (Tanoglidis et al. 2021) as a skorch estimator."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np
import torch
from skorch import NeuralNetBinaryClassifier
from torch import nn

from ..stamps import asinh_stretch
from ..utils._params import Interval, StrOptions
from ..utils._validation import split_stamps_input
from ._base import ClassifierNetMixin, NetMixin, StampNetMixin, init_arguments
from ._gradcam import grad_cam
from ._lsbg_modules import DeepShadowsCNN

__all__ = ["LSBGNet"]


def _softening_to_b(softening: float | None) -> float | None:
    """The old ``softening`` s of ``asinh(x / s)`` as ``b`` of ``asinh(x / 2b)``."""
    return None if softening is None else softening / 2.0


class LSBGNet(ClassifierNetMixin, StampNetMixin, NetMixin, NeuralNetBinaryClassifier):
    """DeepShadows CNN classifier of LSBGs versus artifacts (Tanoglidis et al. 2021).

    A :class:`skorch.NeuralNetBinaryClassifier` whose defaults are the set-up
    of Tanoglidis et al. (2021), §3.2, §4.2 and Table 1, translated from
    Keras: the network :class:`DeepShadowsCNN` (Glorot-uniform
    initialisation, BatchNorm momentum 0.01 / eps 1e-3), binary
    cross-entropy, Adadelta with ``lr=0.1``, ρ=0.95, ε=1e-7, batches of 64,
    100 epochs, and Keras-style L2 regularisation: ``l2_conv·Σw²`` over the
    convolution kernels and ``l2_dense·Σw²`` over the first dense kernel are
    added to the loss (biases, BatchNorm and the output layer are not
    penalised).

    Labels may be of any type (``"LSBG"``/``"artifact"``, 0/1, bools): the
    two classes are ``classes_`` (sorted), the network's logit is that of
    ``classes_[1]``, :meth:`predict_proba` returns ``[P(classes_[0]),
    P(classes_[1])]`` and :meth:`predict` labels from ``classes_`` (with 0/1
    labels: ``[P(artifact), P(LSBG)]``, as in the paper).

    Stamps in flux units (e.g. nanomaggies, as from
    :func:`~skastro.datasets.make_lsbg_stamps`) are stretched with
    ``asinh(x / (2 b))`` (:func:`skastro.stamps.asinh_stretch`, Lupton et
    al. 1999), ``b = asinh_softening``, before entering the network, as
    survey colour cutouts (the paper's input) are asinh-stretched; pass
    ``asinh_softening=None`` for stamps already scaled.

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
    asinh_softening : float or None, default=0.005
        ``b`` of the stretch ``asinh(x / (2 b))``, in the stamps' flux units
        per pixel (``2b`` = 0.01 nmgy/pixel is about μ = 26.2 mag/arcsec² on
        0.469″ pixels); the same parameter as :class:`~skastro.nn.SequenceRCNN`'s
        and :class:`~skastro.stamps.Calibrator`'s.
    nan_policy : {"raise", "fill"}, default="raise"
        NaN pixels raise an error naming the rows; ``"fill"`` reads them as 0
        with a warning naming the rows.
    patience : int or None, default=None
        Early stopping on the validation loss (skorch
        :class:`~skorch.callbacks.EarlyStopping`, best weights restored);
        needs a ``train_split``.
    classes : array-like or None, default=None
        The two class labels, when they should not be read from ``y``.
    amp : {None, False, "bf16", "fp16"}, default=None
        Mixed precision in the training and evaluation steps
        (:func:`torch.autocast`; ``"fp16"`` with loss scaling).
    channels_last : bool, default=False
        Run the convolutions in channels-last memory layout.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, dropout and batch order (never torch's
        global random state); ``None`` seeds nothing.
    device : str, default="cpu"
        ``"cuda"`` to train on a GPU.
    verbose : int, default=0
        1 prints skorch's epoch table.
    softening : float or None, optional
        Deprecated: the old ``asinh(x / softening)``; ``softening=s`` is
        ``asinh_softening=s / 2``. Removed in the next release.
    **kwargs
        Any other :class:`skorch.NeuralNet` parameter (``callbacks``,
        ``warm_start``, ``threshold``, ``iterator_train__num_workers``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The class labels.
    n_bands_ : int
        Bands of the network's input (3: g, r, z).
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
    the paper's channels-last layout are refused with the fix to apply.

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

    _binary_logit = True
    _bands_from_data = False
    _parameter_constraints: dict = {
        **NetMixin._parameter_constraints,
        **StampNetMixin._stamp_constraints,
        "l2_conv": [Interval(Real, 0, None, closed="left")],
        "l2_dense": [Interval(Real, 0, None, closed="left")],
        "asinh_softening": [Interval(Real, 0, None, closed="neither"), None],
        "softening": [
            StrOptions({"deprecated"}),
            Interval(Real, 0, None, closed="neither"),
            None,
        ],
        "threshold": [Interval(Real, 0, 1, closed="both")],
        "classes": ["array-like", None],
    }
    _renamed_params = {"softening": ("asinh_softening", _softening_to_b)}

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
        asinh_softening=0.005,
        nan_policy="raise",
        patience=None,
        classes=None,
        amp=None,
        channels_last=False,
        random_state=None,
        device="cpu",
        verbose=0,
        softening="deprecated",
        **kwargs,
    ):
        super().__init__(**init_arguments(locals()))

    # ------------------------------------------------------------------ set-up
    def get_params_for_optimizer(self, prefix, named_parameters):
        """Optimizer arguments, with Keras' Adadelta ρ and ε as defaults."""
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and self.optimizer is torch.optim.Adadelta:
            kwargs.setdefault("rho", 0.95)
            kwargs.setdefault("eps", 1e-7)
        return args, kwargs

    # ------------------------------------------------------------------- data
    def _expected_stamp_size(self) -> tuple[int, int]:
        size = int(self.get_params_for("module").get("image_size", 64))
        return size, size

    def _prepare_X(self, X: Any) -> np.ndarray:
        arr = self._check_stamps(X)
        b = self._param("asinh_softening")
        return arr if b is None else asinh_stretch(arr, b)

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
        return self._prepare_X(X)

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

    def _l2_terms(self) -> list[tuple[float, list[torch.Tensor]]]:
        convs, dense = self._regularised_kernels()
        return [
            (self.l2_conv, convs),
            (self.l2_dense, [] if dense is None else [dense]),
        ]

    def l2_penalty(self) -> torch.Tensor:
        """Keras L2 terms: ``l2_conv·Σ conv kernels² + l2_dense·Σ dense kernel²``."""
        return sum(
            factor * sum(w.pow(2).sum() for w in tensors)
            for factor, tensors in self._l2_terms()
        )

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
            Labels among ``classes_``.
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
            self._reset_rng()
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
            Explain P(``classes_[1]``) (LSBG for 0/1 labels); False explains
            the other class.

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
