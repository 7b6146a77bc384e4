"""The papers' estimator set-ups, as unfitted scikit-learn estimators.

Each function returns a fresh, unfitted estimator or pipeline configured as
the paper it cites, ready for ``fit``, :func:`~sklearn.base.clone` or a
:class:`~sklearn.model_selection.GridSearchCV`; keyword arguments override
any of its parameters. Deep models come in two schedules: ``"paper"`` (the
paper's optimiser, learning rate and batch size, for runs of the paper's
length) and ``"short"`` (documented changes that let a run of a few hundred
optimiser steps on a CPU converge; used by ``skastro demo``).

================================  ===========================================
function                          paper
================================  ===========================================
:func:`deepshadows_cnn`           Tanoglidis et al. (2021), Table 1
:func:`deepshadows_svm`           Tanoglidis et al. (2021), §4.2
:func:`deepshadows_forest`        Tanoglidis et al. (2021), §4.2
:func:`hits_rcnn`                 Carrasco-Davis et al. (2019), Table 3.3
:func:`hits_forest`               Carrasco-Davis et al. (2019), §3.2.3
:func:`hits_protocol_set`         Carrasco-Davis et al. (2019), §3.2 (data)
:func:`splus_pretrainer`          Martinazzo et al. (2021), §4.1
:func:`splus_classifier`          Martinazzo et al. (2021), §4.2
:func:`splus_magnitude_forest`    a catalog baseline beside Martinazzo et al.
:func:`transfer_classifier`       Martinazzo, Espadoto & Hirata (2020), §3
================================  ===========================================

The training recipes of :mod:`skastro.training` (``skastro train NAME``)
add streamed data, checkpoints and budgets around these estimators; the
trained models ship through :func:`skastro.models.load_pretrained`.

Examples
--------
>>> from skastro import recipes
>>> forest = recipes.hits_forest(random_state=0)
>>> [name for name, _ in forest.steps]
['lightcurveextractor', 'fatsfeatures', 'randomforestclassifier']
>>> recipes.deepshadows_svm()[-1]
SVC(C=10000.0, gamma=0.001)
"""

from __future__ import annotations

from typing import Any

from ._docs import RECIPE_DOCS, fill_doc_from

__all__ = [
    "TRANSFER_BACKBONES",
    "TRANSFER_INPUT_SIZE",
    "deepshadows_cnn",
    "deepshadows_forest",
    "deepshadows_svm",
    "HITS_REAL_CLASSES",
    "hits_forest",
    "hits_protocol_set",
    "hits_rcnn",
    "splus_classifier",
    "splus_magnitude_forest",
    "splus_pretrainer",
    "transfer_classifier",
]

#: The five ImageNet backbones compared by Martinazzo, Espadoto & Hirata
#: (2020) that torchvision provides (their InceptionResNetV2 is not in
#: torchvision; EfficientNet-B0 takes its place, as in Cavuoti et al., ULISSE).
TRANSFER_BACKBONES: tuple[str, ...] = (
    "vgg16",
    "densenet121",
    "resnext50",
    "inception_v3",
    "efficientnet_b0",
)

#: Side (pixels) every stamp is resized to inside the transfer networks, the
#: same for the five backbones so that they are compared on equal inputs:
#: InceptionV3's smallest input.
TRANSFER_INPUT_SIZE: int = 75

_SCHEDULES = ("paper", "short")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}.")


# ------------------------------------------------------------------ DeepShadows
@fill_doc_from(RECIPE_DOCS, estimator="LSBGNet")
def deepshadows_cnn(
    *, schedule: str = "paper", random_state: int | None = 0, **params: Any
) -> Any:
    """The DeepShadows CNN of Tanoglidis et al. (2021) for LSBGs vs artifacts.

    The network of their Table 1 (:class:`~skastro.nn.LSBGNet`: three
    convolutional blocks of 16, 32 and 64 filters, dense 1024, dropout 0.4,
    inputs ``asinh``-stretched g, r, z stamps of 64×64 pixels).

    Parameters
    ----------
    schedule : {"paper", "short"}, default="paper"
        ``"paper"``: Adadelta (η = 0.1), L2 0.13 on the convolution kernels
        and 0.12 on the first dense layer, batches of 64, 100 epochs, Keras'
        BatchNorm momentum (0.99, PyTorch 0.01). ``"short"``: Adam (η = 1e-3),
        L2 1e-4 on both, BatchNorm momentum 0.1 (PyTorch convention), batches
        of 32: Adadelta with the paper's L2 needs about 50,000 steps (100
        epochs of 30,000 stamps) to leave its start-up phase, which a run of
        a few hundred steps never does.
    %(net_params_returns)s

    See Also
    --------
    deepshadows_svm, deepshadows_forest : the paper's baselines.
    skastro.models.load_pretrained : ``"lsbgnet-des-sim"``, this network
        trained on streamed DES-like stamps.
    """
    _check_choice("schedule", schedule, _SCHEDULES)
    from .nn import LSBGNet

    settings: dict[str, Any] = {"random_state": random_state}
    if schedule == "short":
        import torch

        settings.update(
            optimizer=torch.optim.Adam,
            lr=1e-3,
            l2_conv=1e-4,
            l2_dense=1e-4,
            module__bn_momentum=0.1,
            batch_size=32,
        )
    settings.update(params)
    return LSBGNet(**settings)


def deepshadows_svm(*, C: float = 1e4, gamma: float = 1e-3) -> Any:
    """The DeepShadows SVM baseline: source features -> scaling -> RBF SVM.

    Tanoglidis et al. (2021, §4.2): the 16 SExtractor-like features
    (:class:`~skastro.sources.SourceFeatures`), standardised, into a support
    vector machine with an RBF kernel, C = 10⁴ and γ = 10⁻³ (their grid
    search's best).

    Parameters
    ----------
    C : float, default=1e4
        SVM regularisation.
    gamma : float, default=1e-3
        RBF kernel width (inverse squared standardised feature units).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        ``SourceFeatures -> StandardScaler -> SVC``, unfitted; its
        ``decision_function`` ranks LSBGs (threshold 0).
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from .sources import SourceFeatures

    return make_pipeline(
        SourceFeatures(), StandardScaler(), SVC(kernel="rbf", C=C, gamma=gamma)
    )


@fill_doc_from(RECIPE_DOCS)
def deepshadows_forest(*, random_state: int | None = 0, n_jobs: int = 1) -> Any:
    """The DeepShadows random-forest baseline on source features.

    Tanoglidis et al. (2021, §4.2): the 16 SExtractor-like features
    (:class:`~skastro.sources.SourceFeatures`) into a random forest of 100
    trees with ``min_samples_split=10``.

    %(forest_parameters)s

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        ``SourceFeatures -> RandomForestClassifier``, unfitted.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from .sources import SourceFeatures

    return make_pipeline(
        SourceFeatures(),
        RandomForestClassifier(
            n_estimators=100,
            min_samples_split=10,
            random_state=random_state,
            n_jobs=n_jobs,
        ),
    )


# ------------------------------------------------------------------------ HiTS
#: Network sizes of :func:`hits_rcnn` (``SequenceRCNN(module__...)``).
_RCNN_NETWORKS: dict[str, dict[str, Any]] = {
    "paper": {},
    "reduced": {
        "n_filters": 16,
        "n_hidden": 256,
        "n_lstm": 128,
        "dropout": 0.3,
        "renorm_momentum": 0.05,
        "renorm_schedule": (0, 0, 0),
    },
    "small": {
        "n_filters": 8,
        "n_hidden": 64,
        "n_lstm": 32,
        "dropout": 0.3,
        "renorm_momentum": 0.05,
        "renorm_schedule": (0, 0, 0),
    },
}


@fill_doc_from(RECIPE_DOCS, estimator="SequenceRCNN")
def hits_rcnn(
    *, network: str = "paper", random_state: int | None = 0, **params: Any
) -> Any:
    """The recurrent convolutional network of Carrasco-Davis et al. (2019).

    :class:`~skastro.nn.SequenceRCNN`: windows of three 21×21 stamps and
    their time differences, batch renormalisation, two convolutional stages,
    a dense layer, an LSTM and a softmax over the seven classes after every
    observation epoch (their Table 3.3); AMSGrad-style Adam.

    Parameters
    ----------
    network : {"paper", "reduced", "small"}, default="paper"
        ``"paper"``: Table 3.3 (64 filters, dense 1024, LSTM 512), η = 5e-4,
        batches of 256. ``"reduced"``: 16 filters, dense 256, LSTM 128,
        dropout 0.3, η = 1e-3 (the CPU runs of the user guide); ``"small"``:
        8 filters, dense 64, LSTM 32 (minutes on a CPU). Both reduced sizes
        use batch renormalisation from the first step (renormalisation
        momentum 0.05, no warm-up), since runs of a few hundred steps never
        leave the paper's 5,000-step warm-up.
    %(net_params_returns)s

    See Also
    --------
    hits_forest : the paper's light-curve baseline.
    """
    _check_choice("network", network, tuple(_RCNN_NETWORKS))
    from .nn import SequenceRCNN

    settings: dict[str, Any] = {
        f"module__{k}": v for k, v in _RCNN_NETWORKS[network].items()
    }
    if network != "paper":
        settings["lr"] = 1e-3
    settings["random_state"] = random_state
    settings.update(params)
    return SequenceRCNN(**settings)


@fill_doc_from(RECIPE_DOCS)
def hits_forest(*, random_state: int | None = 0, n_jobs: int = 1) -> Any:
    """The light-curve random forest of Carrasco-Davis et al. (2019).

    Optimal photometry on the image sequences
    (:class:`~skastro.lightcurves.LightCurveExtractor`; it subtracts
    ``X["background"]`` where the sequences carry the known sky and host, as
    their §3.2.3 does), the 47 FATS features of their appendix with FATS'
    period grid (:class:`~skastro.lightcurves.FATSFeatures`), and a random
    forest of 25 trees of depth at most 15.

    %(forest_parameters)s

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        ``LightCurveExtractor -> FATSFeatures -> RandomForestClassifier``,
        unfitted; it takes the sequence mappings of
        :func:`~skastro.datasets.make_hits_sequences`.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    from .lightcurves import FATSFeatures, LightCurveExtractor

    return make_pipeline(
        LightCurveExtractor(),
        FATSFeatures(features="carrasco-davis2019", period_grid="fats"),
        RandomForestClassifier(
            n_estimators=25, max_depth=15, random_state=random_state, n_jobs=n_jobs
        ),
    )


#: The five classes of the real HiTS test set of Carrasco-Davis et al. (2019,
#: §4.1, Fig. 4.2): the shifted-domain average recall is over these.
HITS_REAL_CLASSES: tuple[str, ...] = ("SN", "RRL", "EB", "NV", "AST")


def hits_protocol_set(
    n_per_class: Any,
    *,
    random_state: int | None = 0,
    domain: str = "simulated",
    n_epochs: int = 22,
    **simulator_kwargs: Any,
) -> tuple[Any, Any]:
    """HiTS-like sequences for the paper's comparison, with the known background.

    :func:`~skastro.datasets.make_hits_sequences` with the paper's five
    pre-detection epochs for supernovae and asteroids (its default), 22
    observation epochs (the paper's ``N_d``), and ``X["background"] = sky +
    host`` (float32 ADU per pixel): the light-curve forest's photometry
    subtracts the known sky and host galaxy, as Carrasco-Davis et al. (2019,
    §3.2.3) do; the RCNN ignores that key.

    Parameters
    ----------
    n_per_class : int or dict
        Sequences per class (a dict: per class name).
    random_state : int or None, default=0
    domain : {"simulated", "real"}, default="simulated"
        ``"real"``: the shifted domain of the paper's real-data test.
    n_epochs : int, default=22
        Observation epochs per sequence.
    **simulator_kwargs
        Further parameters of :func:`~skastro.datasets.make_hits_sequences`
        (e.g. to vary the simulator's difficulty).

    Returns
    -------
    X : skorch.helper.SliceDict
    y : ndarray of int
        Indices of :data:`~skastro.datasets.HITS_CLASSES`.
    """
    import numpy as np

    from .datasets import make_hits_sequences

    b = make_hits_sequences(
        n_per_class,
        n_epochs=n_epochs,
        domain=domain,
        return_host_images=True,
        random_state=random_state,
        **simulator_kwargs,
    )
    X = b.data
    X["background"] = (X["sky"][..., None, None] + b.host_images).astype(np.float32)
    return X, np.asarray(b.target)


# ---------------------------------------------------------------------- S-PLUS
@fill_doc_from(RECIPE_DOCS, estimator="MagnitudePretrainer")
def splus_pretrainer(
    *,
    width: float = 1.0,
    schedule: str = "paper",
    random_state: int | None = 0,
    **params: Any,
) -> Any:
    """The magnitude pretext task of Martinazzo et al. (2021).

    :class:`~skastro.nn.MagnitudePretrainer`: a VGG16 convolutional backbone
    on 32×32 stamps of any number of bands, global pooling, a dense layer and
    one output per band, trained on the masked mean absolute error of the
    magnitudes / 35 (their §4.1).

    Parameters
    ----------
    width : float, default=1.0
        Filter multiplier of the VGG16 backbone (1.0 = VGG16).
    schedule : {"paper", "short"}, default="paper"
        ``"paper"``: dense layer of 1024, Adam η = 1e-4, batches of 128.
        ``"short"``: dense layer of 256, Adam η = 1e-3, batches of 16, for
        runs of a few epochs on a few hundred stamps.
    %(net_params_returns)s

    See Also
    --------
    splus_classifier : the classifier built from the pretrained backbone.
    """
    _check_choice("schedule", schedule, _SCHEDULES)
    from .nn import MagnitudePretrainer

    short = schedule == "short"
    settings: dict[str, Any] = {
        "module__width": width,
        "module__n_hidden": 256 if short else 1024,
        "lr": 1e-3 if short else 1e-4,
        "batch_size": 16 if short else 128,
        "random_state": random_state,
    }
    settings.update(params)
    return MagnitudePretrainer(**settings)


@fill_doc_from(RECIPE_DOCS, estimator="PretrainedStampClassifier")
def splus_classifier(
    pretrainer: Any = None,
    *,
    freeze: str = "two_phase",
    schedule: str = "paper",
    random_state: int | None = 0,
    **params: Any,
) -> Any:
    """Star/galaxy/quasar classifier of Martinazzo et al. (2021, §4.2).

    From a fitted :func:`splus_pretrainer` (its backbone's weights), either
    frozen (``freeze="head"``: only the new top trains) or fine-tuned in two
    phases (``freeze="two_phase"``: the top alone, then every layer at a
    tenth of the learning rate), with class weights inversely proportional
    to the class frequencies; without a pretrainer, the same network from
    scratch with torchvision's VGG initialisation (with PyTorch's default
    one, a VGG16 from scratch often never leaves the chance loss).

    Parameters
    ----------
    pretrainer : fitted MagnitudePretrainer or None, default=None
        Source of the backbone's weights and width; None: from scratch.
    freeze : {"two_phase", "head", "none"}, default="two_phase"
        Freezing schedule (``"none"``: every layer trains from the start).
    schedule : {"paper", "short"}, default="paper"
        ``"paper"``: Adam η = 1e-4, then 1e-5 for the whole network after 10
        top-only epochs, batches of 128. ``"short"``: η = 1e-3 then 1e-4,
        batches of 16.
    %(net_params_returns)s
    """
    _check_choice("schedule", schedule, _SCHEDULES)
    from .nn import PretrainedStampClassifier

    short = schedule == "short"
    settings: dict[str, Any] = {
        "freeze": freeze,
        "lr": 1e-3 if short else 1e-4,
        "batch_size": 16 if short else 128,
        "random_state": random_state,
    }
    if freeze == "two_phase":
        settings["finetune_lr"] = 1e-4 if short else 1e-5
    settings.update(params)
    if pretrainer is None:
        settings.setdefault("module__init", "vgg")
        return PretrainedStampClassifier(**settings)
    return PretrainedStampClassifier.from_pretrainer(pretrainer, **settings)


@fill_doc_from(RECIPE_DOCS)
def splus_magnitude_forest(*, random_state: int | None = 0, n_jobs: int = 1) -> Any:
    """A random forest on catalog magnitudes: the baseline without images.

    Beside Martinazzo et al. (2021): 300 trees on the 12 S-PLUS magnitudes
    of the catalog (NaN for undetected bands is handled by the forest), to
    tell what the stamps add over photometry.

    %(forest_parameters)s

    Returns
    -------
    forest : sklearn.ensemble.RandomForestClassifier
        Unfitted.
    """
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=300, random_state=random_state, n_jobs=n_jobs
    )


# -------------------------------------------------------------------- transfer
@fill_doc_from(RECIPE_DOCS, estimator="TransferCNNClassifier")
def transfer_classifier(
    backbone: str = "vgg16",
    *,
    weights: Any = None,
    input_size: int | str | None = TRANSFER_INPUT_SIZE,
    random_state: int | None = 0,
    **params: Any,
) -> Any:
    """An ImageNet-backbone classifier as Martinazzo, Espadoto & Hirata (2020).

    :class:`~skastro.nn.TransferCNNClassifier`: a torchvision backbone
    (:data:`TRANSFER_BACKBONES`) with a new head, dense 2048 + LeakyReLU +
    dropout 0.5, Adam (η = 1e-3), no L2 on the head (λ = 0) and balanced
    class weights. From ``weights`` the network is fine-tuned in two phases
    (the head alone, then the last 7 layers) and the backbone's pooled
    features are standardised before the new head
    (``module__feature_norm=True``, see :class:`~skastro.nn.TransferNet`);
    from scratch every layer trains.

    λ = 0 is the setting of their best runs from scratch: with their preset
    λ = 0.1, VGG16 from scratch reaches only 0.562 validation accuracy on
    star/galaxy (their Table 2: one class predicted), with λ = 0 it reaches
    0.989 (Table 3).

    Parameters
    ----------
    backbone : str, default="vgg16"
        One of :data:`TRANSFER_BACKBONES`.
    weights : str, path, dict or None, default=None
        Pretrained backbone weights (see
        :class:`~skastro.nn.TransferCNNClassifier`); None: from scratch.
    input_size : int, "auto" or None, default=TRANSFER_INPUT_SIZE
        Side (pixels) stamps are resized to inside the network; the default
        is the same for every backbone, so that they are compared on equal
        inputs.
    %(net_params_returns)s
    """
    _check_choice("backbone", backbone, TRANSFER_BACKBONES)
    from .nn import TransferCNNClassifier

    settings: dict[str, Any] = {
        "backbone": backbone,
        "weights": weights,
        "freeze": "none" if weights is None else "two_phase",
        "input_size": input_size,
        "module__n_hidden": 2048,
        "l2_dense": 0.0,
        "lr": 1e-3,
        "class_weight": "balanced",
        "random_state": random_state,
    }
    if weights is not None:
        settings["module__feature_norm"] = True
    settings.update(params)
    return TransferCNNClassifier(**settings)
