"""The public/private boundary: what ``skastro`` exports resolves, lazily."""

import importlib
import subprocess
import sys

import pytest

import skastro


@pytest.mark.parametrize("name", sorted(skastro._LAZY))
def test_public_name_resolves(name):
    """Every public name listed in skastro._LAZY is importable from the top."""
    obj = getattr(skastro, name)
    assert obj.__name__ == name
    assert not obj.__module__.split(".")[-1].startswith("_") or name in dir(
        importlib.import_module(skastro._LAZY[name])
    )


@pytest.mark.parametrize(
    "module",
    [
        "skastro.stamps",
        "skastro.datasets",
        "skastro.lightcurves",
        "skastro.sources",
        "skastro.nn",
        "skastro.utils",
        "skastro.exceptions",
    ],
)
def test_subpackage_all_is_public(module):
    """Each subpackage's __all__ names exist and are not private."""
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert not name.startswith("_"), name
        assert hasattr(mod, name), f"{module}.{name} listed in __all__ but missing"


def test_import_does_not_load_torch():
    """``import skastro`` stays light: torch loads only when a net is used."""
    code = "import sys, skastro; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_unknown_attribute_error():
    """A misspelt name raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="FITSCroper"):
        skastro.FITSCroper  # noqa: B018
