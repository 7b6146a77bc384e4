"""The data-set names of skastro 0.1 keep working until 0.3, with a FutureWarning."""

import warnings

import numpy as np
import pandas as pd
import pytest

from skastro import datasets
from skastro.datasets import (
    make_hits_sequences,
    make_light_curves,
    make_splus_field,
    make_splus_stamps,
    make_splus_survey,
)


def _messages(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, FutureWarning)]


def test_simulate_hits_sequences_warns_and_matches():
    """simulate_hits_sequences names make_hits_sequences and returns its output."""
    with pytest.warns(FutureWarning, match="renamed make_hits_sequences") as rec:
        old = datasets.simulate_hits_sequences(2, n_epochs=(5, 6), random_state=0)
    assert "skastro.datasets.simulate_hits_sequences" in _messages(rec)[0]
    new = make_hits_sequences(2, n_epochs=(5, 6), random_state=0)
    np.testing.assert_array_equal(old.data["stamps"], new.data["stamps"])
    np.testing.assert_array_equal(old.target, new.target)


def test_load_splus_stamps_and_objects_per_field_warn(tmp_path):
    """load_splus_stamps(objects_per_field=...) warns twice, naming both new names."""
    kw = dict(n_pool=3, n_labelled=3, field_shape=(128, 128), random_state=0)
    with pytest.warns(FutureWarning) as rec:
        old = datasets.load_splus_stamps(tmp_path / "old", objects_per_field=60, **kw)
    text = " ".join(_messages(rec))
    assert "renamed make_splus_stamps" in text
    assert "'objects_per_field' was renamed 'n_per_field'" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = make_splus_stamps(tmp_path / "new", n_per_field=60, **kw)
    np.testing.assert_array_equal(old.pool.stamps, new.pool.stamps)
    np.testing.assert_array_equal(old.labelled.target, new.labelled.target)


def test_make_light_curves_n_curves_warns_and_matches():
    """make_light_curves(n_curves=...) is make_light_curves(n_samples=...)."""
    with pytest.warns(FutureWarning, match="'n_curves' was renamed 'n_samples'"):
        old = make_light_curves(n_curves=4, n_points=20, random_state=0)
    new = make_light_curves(n_samples=4, n_points=20, random_state=0)
    assert len(old.curves) == 4
    for a, b in zip(old.curves, new.curves):
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("func", [make_splus_field, make_splus_survey])
def test_splus_n_objects_and_shape_warn_and_match(tmp_path, func):
    """n_objects and shape are n_samples and field_shape, each with a warning."""
    extra = {"n_fields": 1} if func is make_splus_survey else {}
    with pytest.warns(FutureWarning) as rec:
        old, _ = func(
            tmp_path / "old", n_objects=6, shape=(64, 64), random_state=0, **extra
        )
    text = " ".join(_messages(rec))
    assert "'n_objects' was renamed 'n_samples'" in text
    assert "'shape' was renamed 'field_shape'" in text
    new, _ = func(
        tmp_path / "new", n_samples=6, field_shape=(64, 64), random_state=0, **extra
    )
    pd.testing.assert_frame_equal(old, new)


def test_old_and_new_keyword_together_is_an_error(tmp_path):
    """Giving a keyword under both names is a TypeError naming both."""
    with pytest.raises(TypeError, match="both 'n_objects' and 'n_samples'"):
        make_splus_field(tmp_path, n_objects=5, n_samples=5)


def test_deprecated_names_are_not_in_all():
    """The old names are importable but not advertised in __all__."""
    for old in ("simulate_hits_sequences", "load_splus_stamps"):
        assert hasattr(datasets, old)
        assert old not in datasets.__all__
