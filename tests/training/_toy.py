"""A fast toy simulator and a tiny recipe for the training tests."""

from __future__ import annotations

from functools import partial

import numpy as np

from skastro.training import Recipe, deepshadows_lsbgnet


def toy_simulate(n: int, random_state: int, *, size: int = 8):
    """``n`` 3-band size x size stamps whose label is the sign of their mean."""
    rng = np.random.default_rng(random_state)
    X = rng.normal(size=(n, 3, size, size)).astype(np.float32)
    X += rng.choice([-0.3, 0.3], size=(n, 1, 1, 1)).astype(np.float32)
    y = (X.mean(axis=(1, 2, 3)) > 0).astype(np.float32)
    return X, y


def failing_simulate(n: int, random_state: int):
    raise AssertionError("the cache should have been used")


def short_simulate(n: int, random_state: int):
    X, y = toy_simulate(n, random_state)
    return X[:-1], y[:-1]


def tiny_lsbgnet(**params):
    """LSBGNet on 8x8 stamps with a few filters, the recipe's optimizer."""
    settings = dict(
        module__image_size=8,
        module__filters=(2, 2, 2),
        module__n_hidden=4,
        asinh_softening=None,
        batch_size=16,
    )
    settings.update(params)
    return deepshadows_lsbgnet(**settings)


def _setup(net, X, y):
    net.initialize()


def tiny_recipe(**changes) -> Recipe:
    settings = dict(
        name="toy",
        model_name="toy-model",
        build=tiny_lsbgnet,
        simulate=partial(toy_simulate, size=8),
        setup=_setup,
        examples_per_pass=64,
        chunk_size=32,
        repeats=1,
        num_workers=0,
        valid_size=32,
        description="toy",
    )
    settings.update(changes)
    return Recipe(**settings)
