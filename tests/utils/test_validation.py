"""Validation helpers: stamps layout, catalogs, SliceDict splitting."""

import numpy as np
import pandas as pd
import pytest
from skorch.helper import SliceDict

from skastro.exceptions import CatalogError, InputLayoutError
from skastro.utils import (
    as_catalog,
    check_catalog_columns,
    check_stamps,
    split_stamps_input,
)


def test_check_stamps_returns_float32_contiguous():
    """Valid stamps come back as C-contiguous float32."""
    x = np.ones((2, 3, 4, 4), dtype=np.float64)[:, :, ::-1]
    out = check_stamps(x, n_bands=3, size=4)
    assert out.dtype == np.float32 and out.flags.c_contiguous


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.ones((2, 4, 4, 3)), {"n_bands": 3}, "channels-last.*moveaxis"),
        (np.ones((2, 5, 4, 4)), {"n_bands": 3}, "5 band"),
        (np.ones((2, 3, 8, 8)), {"size": 4}, "8x8 pixels but 4x4"),
        (np.ones((3, 4, 4)), {}, "4 dimensions"),
        (np.ones((0, 3, 4, 4)), {}, "no stamps"),
        (np.full((1, 1, 2, 2), np.inf), {}, "infinite"),
        (np.full((1, 1, 2, 2), np.nan), {"allow_nan": False}, "NaN pixels in 1"),
        ([["a"]], {}, "converted"),
    ],
)
def test_check_stamps_errors(X, kwargs, match):
    """Wrong layouts get an InputLayoutError saying what and how to fix."""
    with pytest.raises(InputLayoutError, match=match):
        check_stamps(X, **kwargs)


def test_split_stamps_input():
    """A SliceDict splits into stamps and metadata; arrays pass through."""
    x = np.zeros((2, 1, 2, 2))
    stamps, meta = split_stamps_input(SliceDict(stamps=x, zero_point=np.ones((2, 1))))
    assert stamps is x and set(meta) == {"zero_point"}
    assert split_stamps_input(x) == (x, {})
    with pytest.raises(InputLayoutError, match="without the key 'stamps'"):
        split_stamps_input({"images": x})


def test_as_catalog_containers():
    """DataFrames, astropy Tables, dicts and record arrays become DataFrames."""
    from astropy.table import Table

    df = pd.DataFrame({"x": [1.0]})
    assert as_catalog(df) is df
    for obj in (
        Table({"x": [1.0]}),
        {"x": [1.0]},
        np.array([(1.0,)], dtype=[("x", float)]),
    ):
        assert list(as_catalog(obj).columns) == ["x"]
    with pytest.raises(CatalogError, match="must be a catalog"):
        as_catalog(np.ones((2, 2)))


def test_check_catalog_columns_names_missing_and_rows():
    """Missing columns and non-finite rows are named."""
    cat = pd.DataFrame({"x": [1.0, np.nan]}, index=[10, 11])
    with pytest.raises(CatalogError, match=r"\['y'\].*Add y"):
        check_catalog_columns(cat, ["x", "y"], hint="Add y.")
    with pytest.raises(CatalogError, match="row\\(s\\) 11"):
        check_catalog_columns(cat, ["x"], finite=["x"])
