"""Docstring fragments shared by the data-set functions.

A function's docstring names a fragment as ``%(name)s`` on a line of its own,
indented like a parameter (4 spaces); :func:`fill_doc` puts the text in (as
imbalanced-learn does for ``random_state``). One wording for the parameters
and errors every ``fetch_*`` loader shares, and for the layout of the image
sequences.
"""

from __future__ import annotations

from collections.abc import Callable

from .._docs import fill_doc_from

__all__ = ["fill_doc"]

_SHARED_DOCS: dict[str, str] = {
    "data_home": """data_home : str or path-like, default=None
        Cache folder; see :func:`get_data_home` (the files go to its
        ``%(folder)s`` subfolder).""",
    "download_if_missing": """download_if_missing : bool, default=True
        If False, raise a :class:`FileNotFoundError` (naming the file and
        where to get it) when the data are not in the cache instead of
        downloading them.""",
    "return_X_y": """return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.""",
    "retries": """n_retries : int, default=3
        Further download attempts after a network error.
    delay : float, default=1.0
        Seconds between attempts.""",
    "bunch_returns": """Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with:""",
    "descr_citation": """DESCR : str
            Description of the data set.
        citation : str
            The reference to cite.""",
    "X_y_tuple": """(data, target) : tuple
        When ``return_X_y=True``.""",
    "fetch_raises": """Raises
    ------
    FileNotFoundError
        The files are not cached and ``download_if_missing=False``.
    PermissionError
        The data must be downloaded (or unpacked) but the cache folder is
        not writable.
    OSError
        The download failed or a downloaded file is corrupt (checksum
        mismatch); nothing is left in the cache.""",
    "alert_sequences": """sequences : skorch.helper.SliceDict
            The input of :class:`~skastro.lightcurves.LightCurveExtractor`
            and :class:`~skastro.nn.SequenceRCNN`, in the layout of
            :func:`make_hits_sequences`, padded at the end:

            - ``"stamps"``: float32 (n, T, s, s), the ``stamps`` cutouts, DN;
            - ``"science"``, ``"reference"``, ``"difference"``: float32
              (n, T, s, s), the three cutouts, DN (NaN where a packet lacks
              one, or outside the image for candidates near its edge). The
              difference cutout shows the candidate positive: for
              ``isdiffpos`` false it is reference − science, as ZTF
              publishes it;
            - ``"mjd"``: (n, T) start of the exposure, MJD (``jd - 2400000.5``);
            - ``"mask"``: (n, T) bool, True at epochs with a ``stamps``
              cutout;
            - ``"zero_point"``: (n, T) mag of 1 DN/s,
              ``magzpsci - 2.5 log10(exptime)`` (ZTF's ``magzpsci`` is the
              magnitude of 1 DN in the exposure);
            - ``"exptime"``: (n, T) s;
            - ``"sky"``: (n, T) DN/pixel: for difference stamps the
              candidate's local sky (``sky``), for science stamps the median
              of the science cutout;
            - ``"fwhm"``: (n, T) pixels, FWHM of the difference image's PSF,
              ``seeratio x fwhm`` (the schema's ``seeratio`` is
              ``difffwhm / fwhm``; the candidate's own SExtractor ``fwhm`` is
              inflated for bright or blended candidates);
            - ``"center"``: (n, T, 2) candidate position ``(x, y)`` in the
              stamp, 0-based pixels (the cutout is centred on the candidate's
              pixel; the offset is the fraction of ``xpos``, ``ypos``);
            - ``"limiting_mag"``: (n, T) 5σ limiting magnitude of the
              difference image (``diffmaglim``);
            - ``"band"``: (n, T) ``"g"``, ``"r"`` or ``"i"`` (``""`` at
              padding); ``"isdiffpos"``: (n, T) bool, True when the
              candidate is brighter than in the reference image.

            No gain or read noise is in a packet: photometric errors come
            from the noise of the stamp's outer frame.""",
}


def fill_doc(**values: str) -> Callable:
    """Decorate a function: put the shared fragments, then ``values``, in its docstring.

    ``values`` fill the fragments' own placeholders (e.g. ``folder``). An
    unknown ``%(name)s`` left in the docstring is an error at import time.
    """
    return fill_doc_from(_SHARED_DOCS, **values)
