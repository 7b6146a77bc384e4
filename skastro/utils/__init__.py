"""Helpers shared by skastro's estimators (validation, torch set-up, checks)."""

from ._validation import (
    as_catalog,
    check_catalog_columns,
    check_stamps,
    split_stamps_input,
)

__all__ = [
    "as_catalog",
    "check_catalog_columns",
    "check_stamps",
    "split_stamps_input",
]
