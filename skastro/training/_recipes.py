"""The papers' training set-ups, as unfitted estimators and streamed data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from .._docs import RECIPE_DOCS, fill_doc_from
from ._evaluate import evaluate_lsbgnet, evaluate_pretrainer, evaluate_sequence_rcnn

__all__ = [
    "Recipe",
    "RECIPES",
    "get_recipe",
    "deepshadows_lsbgnet",
    "carrasco_davis_rcnn",
    "martinazzo_pretrainer",
    "simulate_hits",
    "simulate_lsbg",
    "simulate_splus_pool",
    "splus_view",
]


# ---------------------------------------------------------------- simulators
def simulate_lsbg(
    n: int,
    random_state: int,
    *,
    survey: str = "des",
    asinh_softening: float | None = 0.005,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` DeepShadows-like stamps as :class:`~skastro.nn.LSBGNet` inputs.

    :func:`~skastro.datasets.make_lsbg_stamps` (balanced classes), stretched
    by the estimator's own :meth:`~skastro.nn.LSBGNet.prepare_stamps`.

    Parameters
    ----------
    n : int
        Number of stamps.
    random_state : int
        Seed of the simulation.
    survey : {"des", "hsc"}, default="des"
    asinh_softening : float or None, default=0.005
        Softening ``b`` of the stretch ``asinh(x / (2 b))`` (nanomaggies per
        pixel), as ``LSBGNet(asinh_softening=...)``.

    Returns
    -------
    X : ndarray of float32, shape (n, 3, 64, 64)
        Stretched g, r, z stamps.
    y : ndarray of float32, shape (n,)
        1 = LSBG, 0 = artifact.
    """
    from ..datasets import make_lsbg_stamps
    from ..nn import LSBGNet

    X, y = make_lsbg_stamps(
        n, survey=survey, return_X_y=True, random_state=random_state
    )
    stretch = LSBGNet(asinh_softening=asinh_softening)
    return stretch.prepare_stamps(X), y.astype(np.float32)


def simulate_splus_pool(
    n: int,
    random_state: int,
    *,
    n_per_field: int = 1000,
    field_shape: tuple[int, int] = (1024, 1024),
    pool_cut: str = "r",
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` stamps of the S-PLUS pretraining pool and their 12 magnitudes.

    :func:`~skastro.datasets.make_splus_stamps` (fields of 1024×1024
    pixels, the pool's cut at 0.05 mag, asinh-stretched calibrated
    fluxes; its FITS files in a temporary folder, deleted afterwards).

    Parameters
    ----------
    n : int
        Number of pool objects.
    random_state : int
        Seed of the fields.
    n_per_field : int, default=1000
        Objects simulated per field.
    field_shape : (int, int), default=(1024, 1024)
        Field size ``(ny, nx)``, pixels.
    pool_cut : {"r", "all"}, default="r"
        The pool's cut: the r-band error (the training pool of the shipped
        pretrainers) or every band's, the selection of Martinazzo et al.
        (2021, §4.2) (``make_splus_stamps(pool_cut=...)``).

    Returns
    -------
    X : ndarray of float32, shape (n, 12, 32, 32)
        Stamps, bands in :data:`~skastro.datasets.SPLUS_BANDS` order (NaN
        pixels off the image edge).
    y : ndarray of float32, shape (n, 12)
        AB magnitudes (NaN: undetected).
    """
    from ..datasets import SPLUS_BANDS, make_splus_stamps

    data = make_splus_stamps(
        n_pool=n,
        n_labelled=1,
        n_per_field=n_per_field,
        field_shape=tuple(field_shape),
        pool_cut=pool_cut,
        random_state=random_state,
    )
    y = data.pool.magnitudes[list(SPLUS_BANDS)].to_numpy(dtype=np.float32)
    return data.pool.stamps.astype(np.float32, copy=False), y


def simulate_hits(
    n: int,
    random_state: int,
    *,
    n_epochs: int = 22,
    asinh_softening: float | None = 2.5,
) -> tuple[dict, np.ndarray]:
    """``n`` HiTS-like image sequences as :class:`~skastro.nn.SequenceRCNN` inputs.

    :func:`~skastro.datasets.make_hits_sequences` with ``n / 7`` sequences
    of each class, ``n_epochs`` epochs (the paper's 22) and its defaults
    (five pre-detection epochs for supernovae and asteroids, as
    Carrasco-Davis et al. 2019 §3.2.1 impose), pre-processed as the
    estimator does (sky subtracted, rescaled to the first epoch's zero
    point, eqs. 3.4-3.5, then ``asinh(x / (2 b))``).

    Parameters
    ----------
    n : int
        Number of sequences, a multiple of 7 (balanced classes).
    random_state : int
        Seed of the simulation.
    n_epochs : int, default=22
        Epochs per sequence.
    asinh_softening : float or None, default=2.5
        Softening ``b`` of the stretch, ADU at the reference zero point, as
        ``SequenceRCNN(asinh_softening=...)``.

    Returns
    -------
    X : dict
        ``stamps`` float32 (n, n_epochs, 21, 21), ``dt`` float32 (n,
        n_epochs) days since the first epoch, ``mask`` bool (n, n_epochs).
    y : ndarray of int64, shape (n,)
        Class indices in :data:`~skastro.datasets.HITS_CLASSES` order.
    """
    from ..datasets import HITS_CLASSES, make_hits_sequences
    from ..nn._rcnn import prepare_sequences

    n_classes = len(HITS_CLASSES)
    if n % n_classes:
        raise ValueError(
            f"simulate_hits draws balanced classes: n must be a multiple of "
            f"{n_classes}; got {n!r}."
        )
    X, y = make_hits_sequences(
        n // n_classes, n_epochs=n_epochs, return_X_y=True, random_state=random_state
    )
    data = prepare_sequences(X, asinh_softening=asinh_softening).data
    return dict(data), np.asarray(y, dtype=np.int64)


def splus_view(
    X: np.ndarray, y: np.ndarray, *, bands: str = "12", target_scale: float = 35.0
) -> tuple[np.ndarray, np.ndarray]:
    """The pretrainer's inputs and scaled targets from 12-band pool stamps.

    Parameters
    ----------
    X : ndarray of shape (n, 12, h, w)
    y : ndarray of shape (n, 12)
        AB magnitudes.
    bands : {"12", "5"}, default="12"
        All twelve bands, or the five broad bands
        (:data:`~skastro.datasets.SPLUS_BROAD_BANDS`) for both the stamps and
        the magnitudes (Martinazzo et al. 2021: 5-band stamps regress 5
        magnitudes).
    target_scale : float, default=35.0
        Magnitudes are divided by it, as
        :class:`~skastro.nn.MagnitudePretrainer` does in ``fit``.

    Returns
    -------
    X : ndarray of float32, shape (n, 12 or 5, h, w)
        NaN pixels (off the image edge) set to 0.
    y : ndarray of float32, shape (n, 12 or 5)
    """
    from ..datasets import SPLUS_BANDS, SPLUS_BROAD_BANDS

    if bands == "12":
        keep = list(range(len(SPLUS_BANDS)))
    elif bands == "5":
        keep = [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]
    else:
        raise ValueError(f"bands must be '12' or '5'; got {bands!r}.")
    # pixels off the image edge (NaN) become 0, as the network itself fills
    # them (and as nan_policy="fill" would, with a warning per call)
    stamps = np.nan_to_num(X[:, keep].astype(np.float32), nan=0.0)
    return (
        np.ascontiguousarray(stamps),
        (y[:, keep] / np.float32(target_scale)).astype(np.float32),
    )


# ------------------------------------------------------------------- recipes
def _lr_plateau(patience: int) -> tuple[str, Any]:
    """The ``("lr_plateau", ...)`` callback of every recipe.

    The learning rate divided by 3 (down to 1e-6) when the validation loss
    has not improved for ``patience`` passes.
    """
    from skorch.callbacks import LRScheduler

    return (
        "lr_plateau",
        LRScheduler(
            policy="ReduceLROnPlateau",
            monitor="valid_loss",
            factor=1 / 3,
            patience=patience,
            min_lr=1e-6,
        ),
    )


@fill_doc_from(RECIPE_DOCS, estimator="LSBGNet")
def deepshadows_lsbgnet(*, random_state: int | None = 0, **params) -> Any:
    """LSBGNet for long streamed training on DES-like stamps.

    :func:`skastro.recipes.deepshadows_cnn` with its ``"short"`` schedule:
    the DeepShadows network of Tanoglidis et al. (2021, Table 1: three
    convolutional blocks, dense 1024, dropout 0.4) with its input stretch,
    trained with Adam (η = 1e-3) and light L2 (1e-4 on the convolution and
    dense kernels) instead of the paper's Adadelta (η = 0.1) with L2
    0.13/0.12: that optimiser needs ~50,000 steps to leave its start-up
    phase, which one CPU core does not buy. Unlike that schedule it keeps
    the paper's batches of 64 and BatchNorm momentum (Keras 0.99, PyTorch
    0.01). The learning rate is divided by 3 when the validation loss (10%
    of the training stamps, stratified; :func:`train_recipe` uses a fixed
    simulated set instead) has not improved for 3 passes.

    Parameters
    ----------
    %(net_params_returns)s
    """
    from skorch.dataset import ValidSplit

    from ..recipes import deepshadows_cnn

    settings = {
        "module__bn_momentum": 0.01,
        "batch_size": 64,
        "train_split": ValidSplit(10, stratified=True),
        "callbacks": [_lr_plateau(patience=3)],
    }
    settings.update(params)
    return deepshadows_cnn(schedule="short", random_state=random_state, **settings)


@fill_doc_from(RECIPE_DOCS, estimator="MagnitudePretrainer")
def martinazzo_pretrainer(
    *, width: float = 0.25, random_state: int | None = 0, **params
) -> Any:
    """MagnitudePretrainer for long streamed pretraining on S-PLUS-like pools.

    The pretext task of Martinazzo et al. (2021, §4.1): VGG16 backbone,
    global average pooling, a dense layer of 1024 units (the paper's),
    masked mean absolute error on magnitudes / 35, Adam. The backbone is a
    documented reduction, ``module__width=0.25`` (a quarter of VGG16's
    filters: 1.07 M parameters, 4.3 MB in float32, against 14.7 M), which a
    CPU core trains at ~60 stamps/s. The weights start from torchvision's
    VGG initialisation (``module__init="vgg"``): from PyTorch's default one
    the signal fades through the 13 plain convolutions and a streamed run
    stayed at the constant prediction (MAE 1.24 mag) for its first 40,000
    stamps. Batches of 32; the learning rate starts at 3e-4 and is divided
    by 3 when the validation loss stalls for 3 passes, through the paper's
    1e-4 and below.

    Parameters
    ----------
    width : float, default=0.25
        Filter multiplier of the VGG16 backbone (1.0 = VGG16).
    %(net_params)s

    Returns
    -------
    %(net_returns)s
    """
    from ..recipes import splus_pretrainer

    settings = {
        "module__init": "vgg",
        "lr": 3e-4,
        "batch_size": 32,
        "callbacks": [_lr_plateau(patience=3)],
    }
    settings.update(params)
    # the paper's schedule sets the dense layer of 1024
    return splus_pretrainer(
        width=width, schedule="paper", random_state=random_state, **settings
    )


def carrasco_davis_rcnn(
    *, reduced: bool = False, random_state: int | None = 0, **params
) -> Any:
    """SequenceRCNN for long streamed training on HiTS-like sequences.

    The network of Carrasco-Davis et al. (2019, Table 3.3: windows of 3
    stamps of 21×21 pixels, 2×3 convolutions of 64 filters with batch
    renormalisation, dense 1024, LSTM 512, a softmax after every epoch),
    the cross-entropy summed over the epochs, AMSGrad. Departures, for a
    CPU:

    - the batch renormalisation is active from the first step with a moving
      average momentum of 0.05 (``renorm_schedule=(0, 0, 0)``): the paper's
      5,000-step warm-up and 65,000-step ramp are longer than a CPU run;
    - the pre-processed pixels are asinh-stretched (``asinh_softening=2.5``
      ADU, about the sky noise), which the paper does not do: they span five
      decades between the sky noise and bright stars;
    - ``reduced=True`` (the shipped model): 16 filters instead of 64, a
      dense layer of 256 instead of 1024, an LSTM of 128 instead of 512 and
      dropout 0.3 (0.36 M parameters against 5.7 M), batches of 32 at
      η = 1e-3 instead of 256 at 5e-4. Measured on one core of this
      project's shared machine, the full network trains at ~7 sequences/s
      and the reduced one at ~34 (training steps; simulating adds ~2 ms per
      sequence): the ~7.7 million
      presentations the paper gave the full network on a GPU would take
      ~300 CPU hours.

    The learning rate is divided by 3 when the validation loss has not
    improved for 4 passes.

    Parameters
    ----------
    reduced : bool, default=False
        The reduced network instead of Table 3.3's.
    random_state : int or None, default=0
        Seeds the initial weights, dropout and batch order.
    **params
        Overrides of any :class:`~skastro.nn.SequenceRCNN` parameter.

    Returns
    -------
    net : skastro.nn.SequenceRCNN
        Unfitted; its classes are the indices 0-6 of
        :data:`~skastro.datasets.HITS_CLASSES`.
    """
    from ..datasets import HITS_CLASSES
    from ..recipes import hits_rcnn

    settings: dict[str, Any] = {}
    if not reduced:
        # the paper's network with the reduced one's renormalisation
        # (hits_rcnn(network="reduced") sets these and η = 1e-3)
        settings.update(
            module__renorm_schedule=(0, 0, 0), module__renorm_momentum=0.05, lr=5e-4
        )
    settings |= {
        "asinh_softening": 2.5,
        "classes": list(range(len(HITS_CLASSES))),
        "batch_size": 32 if reduced else 256,
        # valid_acc is the estimator's: the accuracy after the last epoch
        "callbacks": [_lr_plateau(patience=4)],
    }
    settings.update(params)
    return hits_rcnn(
        network="reduced" if reduced else "paper", random_state=random_state, **settings
    )


def _setup_from_sample(net, X, y) -> None:
    """Initialise ``net`` and build it for the sizes of the validation sample.

    What a fit does when it starts from arrays (the fitted attributes:
    bands, classes, outputs, missing fraction; the network rebuilt for
    them); a streamed fit starts from a dataset, which does not tell them.
    ``y`` may arrive scaled (the pretrainer's magnitudes / 35): only its
    shape and finite entries matter here.
    """
    net.initialize()
    net.check_data(X, y)
    if net._module_out_of_date():
        net._rebuild_for_data()
    net._sizes_open_ = False


@dataclass(frozen=True)
class Recipe:
    """A training set-up: the estimator, its streamed data and its budget unit.

    Parameters
    ----------
    name : str
        Recipe name (``skastro train NAME``).
    model_name : str
        Name of the trained model for :func:`skastro.models.load_pretrained`.
    build : callable
        ``build()`` -> the unfitted estimator.
    simulate : callable
        ``simulate(n, random_state)`` -> ``(X, y)`` in the network's input
        units (see :class:`~skastro.training.SimulatedStream`).
    setup : callable
        ``setup(estimator, X, y)`` initialises the estimator and sets its
        fitted attributes from the (transformed) validation set, before the
        streamed fit.
    examples_per_pass : int
        Examples per pass (one skorch epoch).
    chunk_size : int, default=256
        Examples per simulator call.
    repeats : int, default=1
        Passes over each pool of simulated examples.
    num_workers : int, default=1
        DataLoader workers simulating beside the training process.
    valid_size : int, default=1000
        Examples of the fixed validation set drawn at the start.
    transform : callable or None, default=None
        ``transform(X, y)`` -> ``(X, y)`` applied to simulated chunks (see
        :class:`~skastro.training.SimulatedStream`).
    cache : str or None, default=None
        Name of a pool cache shared by recipes with the same ``simulate``
        (their runs' folders must share a parent); None: the run's own.
    evaluate : callable or None, default=None
        ``evaluate(estimator, **params)`` -> metrics for the model card.
    description : str, default=""
        One line for the model card.
    """

    name: str
    model_name: str
    build: Callable[[], Any]
    simulate: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
    setup: Callable[[Any, np.ndarray, np.ndarray], None]
    examples_per_pass: int
    chunk_size: int = 256
    repeats: int = 1
    num_workers: int = 1
    valid_size: int = 1000
    transform: Callable | None = None
    cache: str | None = None
    evaluate: Callable | None = None
    description: str = ""


RECIPES: dict[str, Recipe] = {
    "deepshadows": Recipe(
        name="deepshadows",
        model_name="lsbgnet-des-sim",
        build=deepshadows_lsbgnet,
        simulate=partial(simulate_lsbg, survey="des"),
        setup=_setup_from_sample,
        examples_per_pass=10240,
        repeats=4,
        evaluate=evaluate_lsbgnet,
        description=(
            "DeepShadows CNN (Tanoglidis et al. 2021) on streamed DES-like "
            "make_lsbg_stamps stamps"
        ),
    ),
}
#: The S-PLUS pools: recipe-name suffix -> (the pool's cut, its shared cache).
#: ``"r"``: r-band error below 0.05 mag, the pool of the shipped pretrainers;
#: ``"all"``: every band detected with an error below 0.05 mag, the ``X_u``
#: of Martinazzo et al. (2021, §4.2), simulated into a cache of its own.
_SPLUS_POOLS = {"": ("r", "splus-pool"), "-paper-pool": ("all", "splus-pool-all")}
for _bands in ("12", "5"):
    for _suffix, (_cut, _cache) in _SPLUS_POOLS.items():
        _name = f"splus-pretrain-{_bands}{_suffix}"
        RECIPES[_name] = Recipe(
            name=_name,
            model_name="magnitude-pretrainer-splus-sim"
            + ("" if _bands == "12" else "-5band")
            + _suffix,
            build=martinazzo_pretrainer,
            simulate=(
                simulate_splus_pool
                if _cut == "r"
                else partial(simulate_splus_pool, pool_cut=_cut)
            ),
            setup=_setup_from_sample,
            examples_per_pass=10000,
            chunk_size=500,
            repeats=8,
            transform=partial(splus_view, bands=_bands),
            cache=_cache,
            evaluate=partial(
                evaluate_pretrainer,
                bands=_bands,
                classification=True,
                **({} if _cut == "r" else {"pool_cut": _cut}),
            ),
            description=(
                f"{_bands}-band magnitude pretrainer (Martinazzo et al. 2021) on "
                "streamed S-PLUS-like pool stamps (make_splus_stamps"
                + ("" if _cut == "r" else f", pool_cut={_cut!r}: the paper's X_u")
                + ")"
            ),
        )

for _reduced in (False, True):
    _name = "sequence-rcnn-hits" + ("-reduced" if _reduced else "")
    RECIPES[_name] = Recipe(
        name=_name,
        model_name="sequence-rcnn-hits-sim" + ("" if _reduced else "-full"),
        build=partial(carrasco_davis_rcnn, reduced=_reduced),
        simulate=simulate_hits,
        setup=_setup_from_sample,
        examples_per_pass=4200,
        chunk_size=700,
        num_workers=0,
        valid_size=1400,
        evaluate=evaluate_sequence_rcnn,
        description=(
            "SequenceRCNN (Carrasco-Davis et al. 2019, Table 3.3"
            + (", reduced for a CPU" if _reduced else "")
            + ") on streamed HiTS-like make_hits_sequences sequences of 22 epochs"
        ),
    )


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (see :data:`RECIPES`)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(
            f"Unknown recipe {name!r}; choose one of {sorted(RECIPES)}."
        ) from None
