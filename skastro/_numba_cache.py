"""Where numba caches skastro's compiled kernels: never inside the package.

numba's ``cache=True`` writes compiled code next to the source file (the
installed package's ``__pycache__``) when that folder is writable. skastro's
kernels are cached instead in numba's user-wide cache folder (the platform's
cache folder: ``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba`` on Linux,
``~/Library/Caches/numba`` on macOS, ``%LOCALAPPDATA%\\numba`` on Windows).
A user who sets ``NUMBA_CACHE_DIR`` keeps numba's own behaviour (the cache
goes there); functions of other packages are not affected.
"""

from __future__ import annotations

__all__ = ["kernel_cache"]

_installed: bool | None = None


def kernel_cache() -> bool:
    """Install skastro's cache locator once; the ``cache=`` value for ``numba.jit``.

    Returns
    -------
    cache : bool
        True when skastro's kernels can be cached outside the package; False
        (no disk cache) if this numba has no locator interface to extend.
    """
    global _installed
    if _installed is not None:
        return _installed
    try:
        from numba.core import caching, config
    except ImportError:  # pragma: no cover - numba is a dependency
        _installed = False
        return False
    impl = getattr(caching, "CacheImpl", None)
    base = getattr(caching, "UserWideCacheLocator", None)
    locators = getattr(impl, "_locator_classes", None)
    if base is None or not isinstance(locators, list):  # pragma: no cover
        _installed = False
        return False

    class SkastroCacheLocator(base):
        """skastro's functions: numba's user-wide cache folder, unless the
        user chose ``NUMBA_CACHE_DIR``."""

        @classmethod
        def from_function(cls, py_func, py_file):
            module = getattr(py_func, "__module__", "") or ""
            if config.CACHE_DIR or not module.startswith("skastro."):
                return None
            return super().from_function(py_func, py_file)

    if not any(getattr(k, "__name__", "") == "SkastroCacheLocator" for k in locators):
        # after numba's UserProvidedCacheLocator (NUMBA_CACHE_DIR), before the
        # in-tree one (the package's __pycache__)
        position = next(
            (i + 1 for i, k in enumerate(locators) if "UserProvided" in k.__name__), 0
        )
        locators.insert(position, SkastroCacheLocator)
    _installed = True
    return True
