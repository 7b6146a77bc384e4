"""The papers' training set-ups, as unfitted estimators and streamed data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

__all__ = [
    "Recipe",
    "RECIPES",
    "get_recipe",
    "deepshadows_lsbgnet",
    "simulate_lsbg",
]


# ---------------------------------------------------------------- simulators
def simulate_lsbg(
    n: int, random_state: int, *, survey: str = "des", softening: float | None = 0.01
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
    softening : float or None, default=0.01
        asinh softening (nanomaggies per pixel), as ``LSBGNet(softening=...)``.

    Returns
    -------
    X : ndarray of float32, shape (n, 3, 64, 64)
        Stretched g, r, z stamps.
    y : ndarray of float32, shape (n,)
        1 = LSBG, 0 = artifact.
    """
    from ..datasets import make_lsbg_stamps
    from ..nn import LSBGNet

    X, y = make_lsbg_stamps(n, survey=survey, return_X_y=True, random_state=random_state)
    return LSBGNet(softening=softening).prepare_stamps(X), y.astype(np.float32)


# ------------------------------------------------------------------- recipes
def deepshadows_lsbgnet(*, random_state: int | None = 0, **params) -> Any:
    """LSBGNet for long streamed training on DES-like stamps.

    The DeepShadows network of Tanoglidis et al. (2021, Table 1: three
    convolutional blocks, dense 1024, dropout 0.4) with its input stretch,
    batches of 64 and BatchNorm momentum (Keras 0.99), trained with Adam
    (η = 1e-3) and light L2 (1e-4 on the convolution and dense kernels)
    instead of the paper's Adadelta (η = 0.1) with L2 0.13/0.12: that
    optimiser needs ~50,000 steps to leave its start-up phase, which one CPU
    core does not buy. The learning rate is divided by 3 when the validation
    loss has not improved for 3 passes.

    Parameters
    ----------
    random_state : int or None, default=0
        Seeds torch when the network is initialised.
    **params
        Overrides of any :class:`~skastro.nn.LSBGNet` parameter.

    Returns
    -------
    net : skastro.nn.LSBGNet
        Unfitted.
    """
    import torch
    from skorch.callbacks import LRScheduler

    from ..nn import LSBGNet

    settings = {
        "optimizer": torch.optim.Adam,
        "lr": 1e-3,
        "l2_conv": 1e-4,
        "l2_dense": 1e-4,
        "batch_size": 64,
        "callbacks": [
            (
                "lr_plateau",
                LRScheduler(
                    policy="ReduceLROnPlateau",
                    monitor="valid_loss",
                    factor=1 / 3,
                    patience=3,
                    min_lr=1e-6,
                ),
            ),
        ],
        "random_state": random_state,
    }
    settings.update(params)
    return LSBGNet(**settings)


def _setup_classifier(net, X, y) -> None:
    net.initialize()


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
        fitted attributes from a sample, before the streamed fit.
    examples_per_pass : int
        Examples per pass (one skorch epoch).
    chunk_size : int
        Examples per simulator call.
    repeats : int
        Passes over each pool of simulated examples.
    num_workers : int
        DataLoader workers simulating beside the training process.
    valid_size : int
        Examples of the fixed validation set drawn at the start.
    description : str
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
    description: str = ""
    extra: dict = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    "deepshadows": Recipe(
        name="deepshadows",
        model_name="lsbgnet-des-sim",
        build=deepshadows_lsbgnet,
        simulate=partial(simulate_lsbg, survey="des"),
        setup=_setup_classifier,
        examples_per_pass=10240,
        chunk_size=256,
        repeats=2,
        num_workers=1,
        valid_size=1000,
        description=(
            "DeepShadows CNN (Tanoglidis et al. 2021) on streamed DES-like "
            "make_lsbg_stamps stamps"
        ),
    ),
}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` (see :data:`RECIPES`)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(
            f"Unknown recipe {name!r}; choose one of {sorted(RECIPES)}."
        ) from None
