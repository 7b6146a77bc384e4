"""Import torchvision, also where its compiled operators cannot load.

skastro uses torchvision for its network *architectures* only
(``torchvision.models``: pure PyTorch modules). torchvision's wheels on PyPI
are built against the CUDA build of PyTorch; next to the CPU build of PyTorch
(the one skastro's Makefile installs, a few hundred MB instead of several GB)
its compiled detection operators (``nms``, ``roi_align`` …) cannot load.
torchvision is written to work without them (``torchvision.ops`` then raises
when called), but one module, ``torchvision/_meta_registrations.py``,
registers a shape function for ``torchvision::nms`` without checking that the
operator exists, so ``import torchvision`` fails with ``RuntimeError:
operator torchvision::nms does not exist`` (pytorch/vision issue #9085).

:func:`import_torchvision` imports torchvision normally and, only when that
exact error occurs, declares the two operator *schemas* that registration
needs (``nms`` and ``qnms``, without kernels) and imports again. Nothing else
changes: the models build and train as usual, and calling
``torchvision.ops.nms`` still raises, as it does whenever the compiled
operators are missing.
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["import_torchvision"]

#: Operator schemas torchvision registers shape functions for unconditionally.
_UNGUARDED_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
#: Kept alive for the life of the process: a torch Library deregisters its
#: definitions when garbage-collected.
_SCHEMA_LIBRARY = None


def _declare_missing_schemas() -> None:
    global _SCHEMA_LIBRARY
    import torch

    if _SCHEMA_LIBRARY is None:
        _SCHEMA_LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in _UNGUARDED_SCHEMAS.items():
        if not torch._C._dispatch_has_kernel(f"torchvision::{name}"):
            try:
                _SCHEMA_LIBRARY.define(schema)
            except RuntimeError:  # already declared (by torchvision or by us)
                pass


def import_torchvision() -> ModuleType:
    """Return the ``torchvision`` module, importing it if needed.

    Returns
    -------
    torchvision : module

    Raises
    ------
    ImportError
        If torchvision is not installed; the message says how to install the
        release that matches the installed PyTorch.
    """
    if "torchvision.models" in sys.modules:
        return sys.modules["torchvision"]
    try:
        import torchvision

        return torchvision
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            raise
        import torch

        raise ImportError(
            "skastro's transfer-learning estimators build their networks with "
            "torchvision, which is not installed. Install the release made for "
            f"your PyTorch {torch.__version__.split('+')[0]} (e.g. `pip install "
            "torchvision==0.28.0` for torch 2.13; the table is at "
            "https://github.com/pytorch/vision#installation), keeping pip from "
            "replacing your torch: `pip freeze | grep ^torch== > c.txt; pip install "
            "torchvision -c c.txt`."
        ) from exc
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    # the compiled operators did not load (CPU PyTorch next to a CUDA-built
    # torchvision): drop the half-imported package and import it again with
    # the operator schemas declared
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    _declare_missing_schemas()
    import torchvision

    return torchvision
