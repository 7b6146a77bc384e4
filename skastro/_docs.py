"""Shared docstring fragments: one wording for what many functions share.

A docstring names a fragment as ``%(name)s`` on a line of its own, indented
like the text it stands for; :func:`fill_doc_from` puts the text in (as
imbalanced-learn does for ``random_state``). ``skastro.datasets`` and
``skastro.recipes`` keep their own fragments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["RECIPE_DOCS", "fill_doc_from"]

_NET_PARAMS = """random_state : int or None, default=0
        Seeds torch when the network is initialised.
    **params
        Overrides of any :class:`~skastro.nn.%(estimator)s` parameter
        (e.g. ``max_epochs``, ``callbacks``)."""
_NET_RETURNS = """net : skastro.nn.%(estimator)s
        Unfitted."""

#: Fragments of the recipes' docstrings (``skastro.recipes``,
#: ``skastro.training``); ``%(estimator)s`` is the network's class name.
#: ``net_params_returns`` ends a network recipe's Parameters section and
#: gives its Returns section; ``forest_parameters`` is the whole Parameters
#: section of a random-forest recipe.
RECIPE_DOCS: dict[str, str] = {
    "net_params": _NET_PARAMS,
    "net_returns": _NET_RETURNS,
    "net_params_returns": f"""{_NET_PARAMS}

    Returns
    -------
    {_NET_RETURNS}""",
    "forest_parameters": """Parameters
    ----------
    random_state : int or None, default=0
        Seeds the forest.
    n_jobs : int, default=1
        Trees fitted in parallel (joblib convention).""",
}


def fill_doc_from(fragments: Mapping[str, str], **values: str) -> Callable:
    """Decorate a function: put ``fragments``, then ``values``, in its docstring.

    ``values`` fill the fragments' own placeholders (e.g. ``folder``). An
    unknown ``%(name)s`` left in the docstring is an error at import time.
    """

    def decorator(func: Callable) -> Callable:
        doc = func.__doc__ or ""
        for key, text in fragments.items():
            doc = doc.replace(f"%({key})s", text)
        for key, text in values.items():
            doc = doc.replace(f"%({key})s", text)
        if "%(" in doc:
            start = doc.index("%(")
            raise ValueError(
                f"{func.__name__}'s docstring names an unknown fragment "
                f"{doc[start : doc.index(')', start) + 2]!r}."
            )
        func.__doc__ = doc
        return func

    return decorator
