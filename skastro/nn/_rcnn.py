"""SequenceRCNN: classify image sequences with a recurrent CNN (Carrasco-Davis et al. 2019).

The estimator wraps :class:`~skastro.nn._rcnn_modules.SequenceRCNNModule` in
a :class:`skorch.NeuralNetClassifier`. Its ``X`` is the sequence
:class:`~skorch.helper.SliceDict` of ``make_hits_sequences``
(``stamps (n, T, 21, 21)`` in ADU, ``mjd (n, T)``, ``mask (n, T)``, and the
per-epoch ``sky`` and ``zero_point`` used by the seed's pre-processing).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np
import torch
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import EpochScoring
from skorch.dataset import ValidSplit
from skorch.helper import SliceDict
from skorch.utils import to_numpy

from ..exceptions import SequenceError
from ..sequences import MJD, SKY, STAMPS, ZERO_POINT, check_sequences, epoch_values
from ..stamps import asinh_stretch, scale_to_reference
from ..utils._params import Interval, StrOptions
from ._base import ClassifierNetMixin, NetMixin, _list_rows, init_arguments
from ._rcnn_modules import BatchRenorm, MaskedStepCrossEntropy, SequenceRCNNModule
from ._rcnn_quant import PRECISIONS, quantized_stream_step

__all__ = ["SequenceRCNN", "SequenceStream", "prepare_sequences"]


def _concat_sequences(parts: list[Mapping]) -> SliceDict:
    """Concatenate sequence dicts with the same keys along the first axis."""
    keys = list(parts[0].keys())
    return SliceDict(
        **{k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}
    )


@dataclass
class PreparedSequences:
    """Validated, pre-processed sequences ready for the network.

    Attributes
    ----------
    data : SliceDict
        ``stamps (n, T, H, W)`` float32 pre-processed, valid epochs first;
        ``dt (n, T)`` float32 days since the first valid epoch (0 at
        padding); ``mask (n, T)`` bool.
    epoch_index : ndarray of shape (n, T)
        ``epoch_index[i, k]`` is the epoch of the input that sits at position
        ``k`` after moving the valid epochs first.
    n_valid : ndarray of shape (n,)
        Valid epochs per sequence.
    """

    data: SliceDict
    epoch_index: np.ndarray
    n_valid: np.ndarray


def _check_epoch_counts(n_valid: np.ndarray, n_window: int) -> None:
    empty = np.flatnonzero(n_valid == 0)
    if empty.size:
        raise SequenceError(
            f"{empty.size} sequence(s) have no valid epoch (all masked): row(s) "
            f"{_list_rows(empty)}. Remove them before calling SequenceRCNN."
        )
    short = np.flatnonzero(n_valid < n_window)
    if short.size:
        raise SequenceError(
            f"{short.size} sequence(s) have fewer valid epochs than the window of "
            f"n_window={n_window} stamps: row(s) {_list_rows(short)} with "
            f"{sorted(set(n_valid[short].tolist()))} epoch(s). Remove them, or wait "
            f"for {n_window} epochs (the network's first output comes after the "
            f"{n_window}-th image)."
        )


def _check_valid_pixels(
    stamps_c: np.ndarray, mask_c: np.ndarray, order: np.ndarray
) -> None:
    """Finite pixels at the valid epochs (in time order)."""
    nan_pix = mask_c & ~np.isfinite(stamps_c).all(axis=(2, 3))
    if nan_pix.any():
        r, k = np.nonzero(nan_pix)
        epochs = order[r, k]
        where = ", ".join(f"({int(a)}, {int(b)})" for a, b in zip(r[:5], epochs[:5]))
        raise SequenceError(
            f"X['stamps'] has NaN pixels at {r.size} valid epoch(s), (row, epoch) = "
            f"{where}{' ...' if r.size > 5 else ''}. Mask those epochs "
            "(mask=False) or fill the pixels (e.g. with the sky level)."
        )


def prepare_sequences(
    X: Any,
    *,
    n_window: int = 3,
    stamp_size: int | None = 21,
    preprocessing: str | None = "reference",
    asinh_softening: float | None = None,
) -> PreparedSequences:
    """Validate image sequences and apply the seed's pre-processing.

    Parameters
    ----------
    X : mapping (e.g. :class:`skorch.helper.SliceDict`)
        ``"stamps"`` (n, T, H, W) in ADU, ``"mjd"`` (n, T) in days,
        optionally ``"mask"`` (n, T) bool (default: epochs with finite MJD);
        with ``preprocessing="reference"`` also ``"sky"`` (n, T) ADU/pixel
        and ``"zero_point"`` (n, T) mag.
    n_window : int, default=3
        Stamps per window; every sequence needs at least this many valid
        epochs.
    stamp_size : int or None, default=21
        Expected side of the stamps in pixels (not checked when None).
    preprocessing : {"reference"} or None, default="reference"
        ``"reference"``: subtract the sky and rescale to the zero point of the
        sequence's first valid epoch (Carrasco-Davis et al. 2019, eqs. 3.4-3.5); None: use the
        stamps as given (e.g. already calibrated).
    asinh_softening : float or None, default=None
        When given, ``b`` in ADU: the pre-processed pixels become
        ``asinh(x / (2 b))`` (:func:`skastro.stamps.asinh_stretch`). None:
        no stretch (the seed).

    Returns
    -------
    PreparedSequences

    Raises
    ------
    SequenceError
        ``X`` breaks the definition of :mod:`skastro.sequences` (not a
        mapping, missing keys, inconsistent shapes, NaN MJD, sky or zero
        point at a valid epoch, two valid epochs at the same time), or a
        sequence is all masked, shorter than the window, or has NaN/inf
        pixels at a valid epoch.

    Notes
    -----
    Epochs may be stored in any order and masked (invalid) epochs anywhere
    (:mod:`skastro.sequences`): the valid epochs are moved to the front in
    time order, and the rest is padding whose pixels (NaN or not) are
    ignored. ``epoch_index`` maps the result back to the input's epochs.
    """
    reference = preprocessing == "reference"
    checked = check_sequences(
        X,
        required=(STAMPS, MJD, SKY, ZERO_POINT) if reference else (STAMPS, MJD),
        finite=(SKY, ZERO_POINT) if reference else (),
        stamp_size=stamp_size,
        caller="SequenceRCNN",
        hint=(
            " Pass preprocessing=None to use stamps that are already sky-subtracted "
            "and calibrated."
            if reference
            else ""
        ),
    )
    n_valid, order = checked.n_valid, checked.order
    _check_epoch_counts(n_valid, n_window)
    # valid epochs first, in time order (skastro.sequences)
    mask_c = checked.sorted(checked.mask)
    mjd_c = checked.sorted(checked.mjd)
    stamps_c = checked.sorted(checked.stamps)
    _check_valid_pixels(stamps_c, mask_c, order)
    dt = np.where(mask_c, mjd_c - mjd_c[:, :1], 0.0).astype(np.float32)
    if reference:
        zp_c = checked.sorted(epoch_values(X, ZERO_POINT, mask_c.shape))
        sky_c = checked.sorted(epoch_values(X, SKY, mask_c.shape))
        stamps_c = scale_to_reference(
            np.where(mask_c[:, :, None, None], stamps_c, 0.0),
            sky_c,
            zp_c,
            zp_c[:, :1],
            mask=mask_c,
        )
    stamps_c = np.where(mask_c[:, :, None, None], stamps_c, 0.0).astype(np.float32)
    if asinh_softening is not None:
        stamps_c = asinh_stretch(stamps_c, asinh_softening)
    data = SliceDict(
        stamps=np.ascontiguousarray(stamps_c), dt=dt, mask=np.ascontiguousarray(mask_c)
    )
    return PreparedSequences(data=data, epoch_index=order, n_valid=n_valid)


def step_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities from logits, over the last axis (float32)."""
    return torch.softmax(logits.float(), dim=-1)


def _last_epoch_accuracy(net: NeuralNet, X: Any, y: Any) -> float:
    """Validation accuracy after the last valid epoch of each sequence.

    ``net.forward_iter`` yields skorch's cached validation outputs (the
    logits of every epoch and the step mask) or, uncached,
    :meth:`SequenceRCNN.evaluation_step`'s (the last epoch's logits first).
    """
    hits = []
    for out in net.forward_iter(X, training=False):
        if len(out) == 2:
            logits, step_mask = out
            last = step_mask.sum(dim=1) - 1
            out = (logits[torch.arange(len(logits)), last],)
        hits.append(out[0].argmax(dim=-1).cpu())
    return float(np.mean(torch.cat(hits).numpy() == to_numpy(y)))


@contextlib.contextmanager
def _held_fixed(parameters: list, renorms: list) -> Iterator[None]:
    """Inside the block: ``parameters`` untrainable and the moving statistics
    of the ``renorms`` (:class:`BatchRenorm` layers) not updated (momentum
    0); both restored afterwards, even on an error."""
    trainable = [p.requires_grad for p in parameters]
    momenta = [m.momentum for m in renorms]
    try:
        for p in parameters:
            p.requires_grad_(False)
        for m in renorms:
            m.momentum = 0.0
        yield
    finally:
        for p, flag in zip(parameters, trainable, strict=True):
            p.requires_grad_(flag)
        for m, momentum in zip(renorms, momenta, strict=True):
            m.momentum = momentum


class SequenceRCNN(ClassifierNetMixin, NetMixin, NeuralNetClassifier):
    """Recurrent convolutional classifier of image sequences (Carrasco-Davis et al. 2019).

    The network of Carrasco-Davis et al. (2019, Table 3.3, see
    :class:`~skastro.nn.SequenceRCNNModule`): a CNN with batch
    renormalisation over sliding windows of ``n_window=3`` consecutive
    21x21 stamps, an LSTM fed with the CNN features and the window's time
    differences, and a softmax after every new epoch. The loss is the
    cross-entropy summed over the valid steps of each sequence; the
    optimiser AMSGrad with learning rate 5e-4 and batches of 256 sequences.

    Parameters
    ----------
    module : torch module class, default=SequenceRCNNModule
        Its hyperparameters are set as ``module__n_filters=64``,
        ``module__n_hidden=1024``, ``module__n_lstm=512``,
        ``module__dropout=0.5``, ``module__n_window=3``,
        ``module__stamp_size=21``,
        ``module__renorm_schedule=(5000, 40000, 25000)``, ...
    criterion : torch module class, default=MaskedStepCrossEntropy
        Loss over ``(logits, step_mask)`` and integer targets.
    optimizer : torch optimizer class, default=torch.optim.Adam
        With ``optimizer__amsgrad=True`` (AMSGrad) unless given.
    lr : float, default=5e-4
    max_epochs : int, default=10
        Passes over the training sequences.
    batch_size : int, default=256
        Sequences per batch.
    train_split : callable or None, default=ValidSplit(5, stratified=True)
        skorch's internal validation split (``None`` trains on everything).
    preprocessing : {"reference"} or None, default="reference"
        ``"reference"``: subtract ``X["sky"]`` and rescale each epoch to the
        zero point of the sequence's first valid epoch,
        ``(stamp - sky) * 10**((zp_first - zp_t) / 2.5)`` (Carrasco-Davis et al. 2019, eqs.
        3.4-3.5); the input :class:`~skastro.nn.BatchRenorm` then
        standardises the pixels. None: use ``X["stamps"]`` as given.
    asinh_softening : float or None, default=None
        None (the seed): the pre-processed pixels go to the network as they
        are, spanning five decades between sky noise and bright stars. A
        float ``b`` (ADU at the reference zero point, e.g. about the sky
        noise) compresses them with the asinh stretch ``asinh(x / (2 b))``
        (Lupton et al. 1999), linear within the noise and magnitude-like
        above it, after the pre-processing; the stream applies the same.
    patience : int or None, default=None
        Early stopping on the validation loss (skorch
        :class:`~skorch.callbacks.EarlyStopping`, best weights restored);
        needs a ``train_split``.
    classes : array-like or None, default=None
        The class labels, when they should not be read from ``y`` (e.g. the
        seven HiTS classes when fine-tuning data lack one); the network has
        one output per class.
    amp : {None, False, "bf16", "fp16"}, default=None
        Mixed precision in the training and evaluation steps.
    channels_last : bool, default=False
        Channels-last memory layout of the stamp tensors.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, dropout and batch order (never torch's
        global random state); ``None`` seeds nothing.
    **kwargs
        Any other :class:`skorch.NeuralNetClassifier` parameter (``device``,
        ``callbacks``, ``iterator_train__shuffle`` (default True), ...).

    Attributes
    ----------
    module_ : SequenceRCNNModule
        The fitted network.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``y`` (or ``classes``); :meth:`predict` returns
        them and the network has one output per class.
    history_ : skorch.History
        Training history.

    See Also
    --------
    SequenceStream : the streaming classifier returned by :meth:`stream`.

    Notes
    -----
    ``X`` is a :class:`skorch.helper.SliceDict` with ``"stamps"`` (n, T, H, W)
    in ADU (sky not subtracted), ``"mjd"`` (n, T) days, ``"mask"`` (n, T)
    bool, and ``"sky"`` (n, T) ADU/pixel and ``"zero_point"`` (n, T) mag for
    ``preprocessing="reference"``. ``y`` holds class labels of any type
    (strings such as ``"SN"``, or indices in the HiTS order SN, RRL, CEP, EB,
    NV, GAL, AST).

    ``X`` is a sequence set as :mod:`skastro.sequences` defines it: epochs
    may be stored in any order (the network reads the valid ones in time
    order; :meth:`predict_proba_steps` answers at the input's positions) and
    masked epochs may sit anywhere. Bad input (each raises
    :class:`~skastro.exceptions.SequenceError`, a ``ValueError``, naming the
    rows): all-masked sequences; sequences with fewer valid epochs than
    ``n_window`` (the first prediction needs a full window); NaN pixels at a
    valid epoch (mask the epoch instead; pixels of masked epochs are
    ignored); two valid epochs at the same MJD.

    Examples
    --------
    >>> from skastro.datasets import make_hits_sequences  # doctest: +SKIP
    >>> X, y = make_hits_sequences(10, return_X_y=True)  # doctest: +SKIP
    >>> clf = SequenceRCNN(max_epochs=2, train_split=None).fit(X, y)  # doctest: +SKIP
    >>> clf.predict_proba_steps(X).shape  # doctest: +SKIP
    (70, 22, 7)
    """

    _parameter_constraints: dict = {
        **NetMixin._parameter_constraints,
        "preprocessing": [StrOptions({"reference"}), None],
        "asinh_softening": [Interval(Real, 0, None, closed="neither"), None],
        "classes": ["array-like", None],
    }

    def __init__(
        self,
        module=SequenceRCNNModule,
        *,
        criterion=MaskedStepCrossEntropy,
        optimizer=torch.optim.Adam,
        lr=5e-4,
        max_epochs=10,
        batch_size=256,
        train_split=ValidSplit(5, stratified=True),  # noqa: B008 (skorch's default)
        preprocessing="reference",
        asinh_softening=None,
        patience=None,
        classes=None,
        amp=None,
        channels_last=False,
        random_state=None,
        **kwargs,
    ):
        kwargs.setdefault("optimizer__amsgrad", True)
        kwargs.setdefault("predict_nonlinearity", step_softmax)
        super().__init__(**init_arguments(locals()))

    # -- hooks ---------------------------------------------------------------
    def _module_param(self, name: str, default: Any) -> Any:
        if hasattr(self, "module_") and hasattr(self.module_, name):
            return getattr(self.module_, name)
        return self.get_params_for("module").get(name, default)

    def _check_module_params(self, *, warn: bool) -> None:
        if warn and "module__n_classes" in self.__dict__:
            warnings.warn(
                "SequenceRCNN: 'module__n_classes' is deprecated and will be removed "
                "in the next release; the network has one output per class of "
                "classes_ (pass classes=[...] to declare classes absent from y).",
                FutureWarning,
                stacklevel=5,
            )

    def get_params_for(self, prefix):
        """skorch's, with the deprecated ``module__n_classes`` as ``n_outputs``."""
        params = super().get_params_for(prefix)
        if prefix == "module" and "n_classes" in params:
            params.setdefault("n_outputs", params.pop("n_classes"))
        return params

    def _prepare(self, X: Any) -> PreparedSequences:
        return prepare_sequences(
            X,
            n_window=self._module_param("n_window", 3),
            stamp_size=self._module_param("stamp_size", 21),
            preprocessing=self.preprocessing,
            asinh_softening=self.asinh_softening,
        )

    def _prepare_X(self, X: Any) -> SliceDict:
        """Validate and pre-process ``X`` (see :func:`prepare_sequences`)."""
        return self._prepare(X).data

    @property
    def _default_callbacks(self):
        # valid_acc: the accuracy after the last valid epoch of each sequence
        return [
            (
                name,
                EpochScoring(
                    _last_epoch_accuracy, name="valid_acc", lower_is_better=False
                ),
            )
            if name == "valid_acc"
            else (name, cb)
            for name, cb in super()._default_callbacks
        ]

    def evaluation_step(self, batch, training=False):
        """Logits after the last valid epoch, then those of every step and the
        step mask (``predict_proba`` takes the first)."""
        logits, step_mask = super().evaluation_step(batch, training=training)
        last = step_mask.sum(dim=1) - 1
        return logits[torch.arange(len(logits)), last], logits, step_mask

    def fine_tune(
        self,
        X,
        y,
        *,
        n_iterations: int = 1000,
        lr: float | None = None,
        replay: tuple[Any, Any] | None = None,
        replay_fraction: float = 0.75,
        freeze: str = "none",
        renorm_statistics: str = "update",
    ):
        """Continue training a fitted model on a few sequences (Carrasco-Davis et al. 2019, §3.2.4).

        The seed adapts the simulation-trained network to real data with
        1000 further iterations (batches) over 10 sequences per class. This
        runs ``fit`` with ``warm_start=True`` and no internal validation
        split, keeping the weights, optimiser state and history, then
        restores those parameters, so the estimator stays clone-able and
        picklable.

        Without ``replay`` every batch is drawn from ``X`` alone
        (``ceil(n_iterations / batches per epoch)`` passes over it). With
        ``replay=(X_old, y_old)`` (e.g. the simulated training set) each
        batch draws a fraction ``replay_fraction`` of its sequences from
        ``X_old`` and the rest from ``X`` (at random, with replacement, one
        pass of ``n_iterations`` batches): the network keeps seeing the
        domain it was trained on while it adapts, the analogue of the
        seed's light-curve forest trained on the simulated set plus the
        copied real sequences. With the default 0.75 and batches of 32,
        1000 iterations show each of 70 fine-tuning sequences about 110
        times, the seed's "about 100 copies".

        Parameters
        ----------
        X : SliceDict
            The fine-tuning sequences.
        y : array-like of shape (n_sequences,)
        n_iterations : int, default=1000
            Optimiser steps.
        lr : float, optional
            Learning rate during fine-tuning (default: ``self.lr``).
        replay : (SliceDict, array-like), optional
            Sequences and labels of the original domain to mix into every
            batch; same keys as ``X``.
        replay_fraction : float, default=0.75
            Expected fraction of each batch drawn from ``replay``, in (0, 1).
        freeze : {"none", "cnn", "features"}, default="none"
            Layers whose weights stay fixed during fine-tuning: ``"none"``
            trains every layer (the seed's fine-tuning); ``"cnn"`` the
            convolutional part (``module_.cnn``: convolutions and batch
            renormalisation scales), training the dense layer, the LSTM and
            the output; ``"features"`` the convolutional part and the dense
            layer after it, training only the LSTM and the output. Frozen
            batch renormalisations still update their moving statistics from
            the batches (they follow the new domain's inputs), and nothing is
            back-propagated through frozen layers, so each iteration costs
            less (a third of the time with ``"cnn"`` for the reduced network
            on a CPU). The parameters' ``requires_grad`` flags are restored
            afterwards.
        renorm_statistics : {"update", "keep"}, default="update"
            What the moving averages (mean and standard deviation) of the
            batch renormalisations do during fine-tuning. ``"update"``: they
            follow the fine-tuning batches as in training (with ``replay``,
            a mixture of both domains). ``"keep"``: they stay at the values
            learnt on the training domain (momentum 0 for the duration, then
            restored); each layer still normalises a batch with its own
            statistics corrected towards those averages (Ioffe 2017), so the
            weights adapt to the new inputs under the normalisation they are
            evaluated with. Re-estimating the averages on the new domain
            instead (AdaBN, Li et al. 2018) did not help on the shifted HiTS
            domain (see :doc:`/user_guide/training`).

        Returns
        -------
        self
        """
        self.check_is_fitted()
        if not isinstance(n_iterations, int | np.integer) or n_iterations < 1:
            raise ValueError(f"n_iterations must be an int >= 1; got {n_iterations!r}.")
        if renorm_statistics not in ("update", "keep"):
            raise ValueError(
                "renorm_statistics must be 'update' or 'keep'; got "
                f"{renorm_statistics!r}."
            )
        frozen = self._frozen_parameters(freeze)
        renorms = [m for m in self.module_.modules() if isinstance(m, BatchRenorm)]
        n = len(np.asarray(y))
        saved = {
            "warm_start": self.warm_start,
            "max_epochs": self.max_epochs,
            "train_split": self.train_split,
        }
        old_lr = self.lr
        temporary: dict[str, Any] = {}
        if replay is None:
            batches = max(1, math.ceil(n / self.batch_size))
            epochs = max(1, math.ceil(n_iterations / batches))
        else:
            X, y, temporary = self._replay_batches(
                X, y, replay, replay_fraction, n_iterations
            )
            epochs = 1
        old_iter = {k: self.__dict__[k] for k in temporary if k in self.__dict__}
        keep = renorm_statistics == "keep"
        try:
            with _held_fixed(frozen, renorms if keep else []):
                self.set_params(warm_start=True, max_epochs=epochs, train_split=None)
                if lr is not None:
                    self.set_params(lr=lr)
                self.__dict__.update(temporary)
                self.fit(X, y)
        finally:
            for k in temporary:
                self.__dict__.pop(k, None)
            self.__dict__.update(old_iter)
            self.set_params(**saved)
            if lr is not None:
                self.set_params(lr=old_lr)
        return self

    #: Submodules of :class:`SequenceRCNNModule` whose weights
    #: ``fine_tune(freeze=...)`` keeps fixed.
    _FINE_TUNE_FREEZE = {"none": (), "cnn": ("cnn",), "features": ("cnn", "dense")}

    def _frozen_parameters(self, freeze: Any) -> list[torch.nn.Parameter]:
        """The parameters ``fine_tune(freeze=freeze)`` keeps fixed."""
        if not isinstance(freeze, str) or freeze not in self._FINE_TUNE_FREEZE:
            raise ValueError(
                f"freeze must be one of {sorted(self._FINE_TUNE_FREEZE)}; got "
                f"{freeze!r}."
            )
        parts = self._FINE_TUNE_FREEZE[freeze]
        missing = [name for name in parts if not hasattr(self.module_, name)]
        if missing:
            raise ValueError(
                f"freeze={freeze!r} needs the module's {missing} submodules, which "
                f"{type(self.module_).__name__} lacks; use freeze='none'."
            )
        return [p for name in parts for p in getattr(self.module_, name).parameters()]

    def _replay_batches(
        self, X, y, replay: Any, fraction: Any, n_iterations: int
    ) -> tuple[SliceDict, np.ndarray, dict[str, Any]]:
        """The joint data set and the data-loader settings of replay fine-tuning."""
        if not isinstance(fraction, Real) or not 0.0 < float(fraction) < 1.0:
            raise ValueError(
                f"replay_fraction must be a float in (0, 1); got {fraction!r}."
            )
        try:
            X_old, y_old = replay
        except (TypeError, ValueError):
            raise ValueError(
                "replay must be a pair (X_old, y_old) of sequences and labels of "
                f"the original domain; got {type(replay).__name__}."
            ) from None
        if not isinstance(X, Mapping) or not isinstance(X_old, Mapping):
            raise SequenceError(
                "With replay, X and replay[0] must both be sequence dicts "
                "(SliceDict) with the same keys."
            )
        if set(X) != set(X_old):
            raise SequenceError(
                "X and replay[0] must have the same keys; X has "
                f"{sorted(X)}, replay[0] has {sorted(X_old)}."
            )
        y_new = np.asarray(y)
        y_old = np.asarray(y_old)
        n, m = len(y_new), len(y_old)
        if n == 0 or m == 0:
            raise ValueError(
                f"X and replay must each hold at least one sequence; got {n} "
                f"fine-tuning and {m} replay labels."
            )
        for name, data, labels in (("X", X, n), ("replay[0]", X_old, m)):
            rows = len(np.asarray(data["stamps"])) if "stamps" in data else labels
            if rows != labels:
                raise ValueError(
                    f"{name} holds {rows} sequences but its labels hold {labels}; "
                    "give one label per sequence."
                )
        joint = _concat_sequences([X, X_old])
        weights = np.concatenate(
            [np.full(n, (1.0 - fraction) / n), np.full(m, fraction / m)]
        )
        seed = (
            np.random.RandomState(self.random_state).randint(2**31 - 1)
            if self.random_state is not None
            else int(torch.randint(2**31 - 1, ()).item())
        )
        sampler = torch.utils.data.WeightedRandomSampler(
            torch.as_tensor(weights, dtype=torch.double),
            num_samples=n_iterations * self.batch_size,
            replacement=True,
            generator=torch.Generator().manual_seed(int(seed)),
        )
        settings = {
            "iterator_train__shuffle": False,
            "iterator_train__sampler": sampler,
        }
        return joint, np.concatenate([y_new, y_old]), settings

    # -- prediction --------------------------------------------------------
    def predict_proba_steps(self, X):
        """Class probabilities after each epoch.

        Parameters
        ----------
        X : SliceDict
            See the class Notes.

        Returns
        -------
        proba : ndarray of shape (n_sequences, T, n_classes)
            ``proba[i, t]`` is the probability (in ``classes_`` order) after
            epoch ``t`` of ``X`` (the window ending at ``t``), NaN at masked
            epochs and before the first ``n_window`` valid epochs.
        """
        self.check_is_fitted()
        prepared = self._prepare(X)
        dataset = NeuralNet.get_dataset(self, prepared.data)
        logits, masks = [], []
        for _, step_logits, step_mask in self.forward_iter(dataset, training=False):
            logits.append(step_logits)
            masks.append(step_mask)
        proba = step_softmax(torch.cat(logits)).numpy()
        step_mask = torch.cat(masks).numpy().astype(bool)
        n, t = prepared.epoch_index.shape
        n_w = t - step_mask.shape[1] + 1
        out = np.full((n, t, proba.shape[-1]), np.nan, dtype=proba.dtype)
        rows, ks = np.nonzero(step_mask)
        out[rows, prepared.epoch_index[rows, ks + n_w - 1]] = proba[rows, ks]
        return out

    def stream(self, precision: str = "float32") -> SequenceStream:
        """A streaming classifier for one object, fed one image at a time.

        Parameters
        ----------
        precision : {"float32", "int8", "bfloat16"}, default="float32"
            Precision of the dense layer and the LSTM in the stream (CPU);
            see :mod:`skastro.nn._rcnn_quant`.

        Returns
        -------
        SequenceStream
        """
        self.check_is_fitted()
        return SequenceStream(self, precision=precision)


class SequenceStream:
    """Classify one object's image sequence as its images arrive.

    Obtain it from :meth:`SequenceRCNN.stream`. It keeps the LSTM state, the
    last ``n_window - 1`` pre-processed stamps and the reference (first)
    epoch, so each :meth:`update` costs one CNN window and one LSTM step
    (:meth:`SequenceRCNNModule.stream_step`: the evaluation-mode network with
    the batch renormalisations folded into the neighbouring layers, about
    2-3 ms on one CPU thread for the full network, about 0.45 ms for the
    shipped reduced one). Its probabilities equal
    :meth:`SequenceRCNN.predict_proba_steps` on the same sequence (to float
    rounding). Streams of several objects share the estimator's network.

    Parameters
    ----------
    estimator : SequenceRCNN
        A fitted estimator; the stream shares its network.
    precision : {"float32", "int8", "bfloat16"}, default="float32"
        Precision of the dense layer and the LSTM (int8 weights or bfloat16,
        CPU only). On the shipped ``"sequence-rcnn-hits-sim"`` network the
        largest per-step difference from float32 over 140 simulated
        sequences is 3.7e-3 for bfloat16 and 1.6e-2 for int8
        (``benchmarks/bench_rcnn.py``); its weights fit in the cache, so
        neither is faster than float32 there. They pay off for the full
        Table 3.3 network, whose 22 MB of weights do not.

    Attributes
    ----------
    n_epochs_ : int
        Images received so far.
    proba_ : ndarray of shape (n_classes,)
        Latest probabilities, in ``estimator.classes_`` order (NaN before
        ``n_window`` images).
    """

    def __init__(self, estimator: SequenceRCNN, precision: str = "float32"):
        if precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {PRECISIONS}; got {precision!r}."
            )
        self.estimator = estimator
        self.precision = precision
        self.reset()

    def reset(self) -> SequenceStream:
        """Forget the object: the next image starts a new sequence."""
        self.n_epochs_ = 0
        self._stamps: list[torch.Tensor] = []
        self._dts: list[float] = []
        self._first_mjd: float | None = None
        self._last_mjd: float | None = None
        self._zp_ref: float | None = None
        self._state = None
        module = self.estimator.module_
        self.proba_ = np.full(module.n_outputs, np.nan, dtype=np.float32)
        return self

    def update(
        self,
        image: Any,
        mjd: float,
        *,
        sky: float | None = None,
        zero_point: float | None = None,
    ) -> np.ndarray:
        """Add one image and return the class probabilities.

        Parameters
        ----------
        image : array-like of shape (H, W)
            The new stamp in ADU (sky not subtracted when the estimator uses
            ``preprocessing="reference"``).
        mjd : float
            Its time (days); must exceed the previous image's.
        sky : float, optional
            Sky level (ADU/pixel); required with ``preprocessing="reference"``.
        zero_point : float, optional
            Zero point (mag); required with ``preprocessing="reference"``.

        Returns
        -------
        proba : ndarray of shape (n_classes,)
            Probabilities after this image; NaN until ``n_window`` images
            have arrived.

        Notes
        -----
        The cost does not grow with the sequence: the pre-processing of one
        stamp, then :meth:`SequenceRCNNModule.stream_step` (one CNN window
        and one LSTM step with folded weights, see
        ``benchmarks/bench_rcnn.py``).
        """
        est = self.estimator
        module = est.module_
        n_w, size = module.n_window, module.stamp_size
        # a float32 copy (kept in the window), as check_stamps gives the batch API
        img = np.array(image, dtype=np.float32)
        if img.shape != (size, size):
            raise SequenceError(
                f"image must be one {size}x{size} stamp (H, W); got shape {img.shape}."
            )
        if not np.isfinite(img).all():
            raise SequenceError(
                "image has NaN or infinite pixels; skip this epoch or fill the pixels "
                "(e.g. with the sky level)."
            )
        mjd = float(mjd)
        if not math.isfinite(mjd):
            raise SequenceError(f"mjd must be finite; got {mjd!r}.")
        if self._last_mjd is not None and not mjd > self._last_mjd:
            raise SequenceError(
                f"mjd={mjd!r} does not follow the previous image's mjd="
                f"{self._last_mjd!r}; images must arrive in increasing time order."
            )
        if est.preprocessing == "reference":
            if sky is None or zero_point is None:
                raise ValueError(
                    "this estimator uses preprocessing='reference': pass the image's "
                    "sky (ADU/pixel) and zero_point (mag) to update()."
                )
            sky, zero_point = float(sky), float(zero_point)
            if not (math.isfinite(sky) and math.isfinite(zero_point)):
                raise SequenceError(
                    f"sky={sky!r} and zero_point={zero_point!r} must be finite; the "
                    "reference pre-processing needs both."
                )
            if self._zp_ref is None:
                self._zp_ref = zero_point
            # Calibrator(method="reference")'s formula, the first image as
            # the reference (no estimator around it: it would cost more than
            # the network)
            img = scale_to_reference(img, sky, zero_point, self._zp_ref)
        if est.asinh_softening is not None:
            img = asinh_stretch(img, est.asinh_softening)
        if self._first_mjd is None:
            self._first_mjd = mjd
        self._last_mjd = mjd
        self.n_epochs_ += 1
        ref = module.output.weight
        stamps = self._stamps
        stamps.append(torch.from_numpy(img).to(ref.device))
        self._dts.append(float(np.float32(mjd - self._first_mjd)))
        if len(stamps) < n_w:
            return self.proba_.copy()
        del stamps[:-n_w]
        del self._dts[:-n_w]
        with torch.inference_mode():
            window = torch.stack(stamps)[None]
            dt = torch.tensor([self._dts], dtype=ref.dtype, device=ref.device)
            logits, self._state = quantized_stream_step(
                module, window, dt, self._state, precision=self.precision
            )
            proba = torch.softmax(logits.float(), dim=-1)[0].cpu().numpy()
        self.proba_ = proba
        return proba.copy()
