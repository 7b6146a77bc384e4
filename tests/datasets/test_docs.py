"""Tests for the shared docstring fragments of the data-set functions."""

import pytest

from skastro.datasets import fetch_asas_variables
from skastro.datasets._docs import fill_doc


def test_fill_doc_puts_fragments_and_values():
    """Fragments are filled in, then their own placeholders from the values."""

    @fill_doc(folder="my_data")
    def f():
        """Load.

        Parameters
        ----------
        %(data_home)s
        """

    assert "``my_data`` subfolder" in f.__doc__
    assert "%(" not in f.__doc__


def test_fill_doc_unknown_fragment_is_an_error():
    """A misspelt fragment fails when the function is defined, naming it."""
    with pytest.raises(ValueError, match="unknown fragment '%\\(data_hom\\)s'"):

        @fill_doc()
        def f():
            """%(data_hom)s"""


def test_fetchers_docstrings_are_filled():
    """The fetchers' docstrings hold the shared wording, with their own folder."""
    doc = fetch_asas_variables.__doc__
    assert "``asas_variables`` subfolder" in doc
    assert "download_if_missing : bool, default=True" in doc
    assert "PermissionError" in doc and "%(" not in doc
