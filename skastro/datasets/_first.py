"""FIRST radio galaxies in four morphological classes (Griese et al. 2023)."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ..utils._params import StrOptions, validate_params
from ._docs import fill_doc
from ._fetch_base import (
    FETCH_CONSTRAINTS,
    RemoteFile,
    check_writable_folder,
    fetch_file,
    get_data_home,
    publish,
)

__all__ = ["FIRST_CLASSES", "fetch_first_radio_galaxies"]

_WHEEL = RemoteFile(
    "firstgalaxydata-0.2.1-py3-none-any.whl",
    "https://files.pythonhosted.org/packages/21/65/"
    "8b79f500ccda339fce482af5274ef90ecfd8d648f00dd37ae1a0703bae09/"
    "firstgalaxydata-0.2.1-py3-none-any.whl",
    "5bb01ee0cc2d9f47a2f3b4dfa1282fe9f2eb94cfc1967840e60f6dc184c7a82b",
    13_942_751,
)
_INNER_ZIP = "firstgalaxydata/galaxy_data_h5.zip"
_H5_NAME = "galaxy_data_h5.h5"

#: Class names in the order of the published labels 0-3.
FIRST_CLASSES: tuple[str, ...] = ("FRI", "FRII", "Compact", "Bent")
_SUBSETS = ("train", "valid", "test")
FOLDER = "first_radio_galaxies"
CITATION = (
    "F. Griese et al., 'Radio galaxy dataset: FIRST radio galaxy images "
    "in four morphological classes', Data in Brief 47, 108974 (2023), "
    "doi:10.5281/zenodo.7689127 (PyPI package firstgalaxydata 0.2.1); "
    "FIRST: R. H. Becker, R. L. White, D. J. Helfand, ApJ 450, 559 (1995)."
)
DESCR = f"""\
FIRST radio galaxies (Griese et al. 2023)
-----------------------------------------

2,158 images of radio galaxies from the FIRST survey (VLA, 1.4 GHz), each
300 x 300 pixels, labelled FRI (495), FRII (924), Compact (391) or Bent
(348) after six literature catalogues (MiraBest, Gendre, Capetti 2017a/b,
Baldi 2018, Proctor), with the published split: train 1,758 (395 / 824 /
291 / 248), valid 200 and test 200 (50 per class each). The images are the
published 8-bit ones (0-255, as the data set's PNG files), returned as
float32 divided by 255. Read from the HDF5 file ``galaxy_data_h5.h5``
inside the wheel of the PyPI package ``firstgalaxydata`` 0.2.1 (the data
set is also on Zenodo, record 7689127); the wheel is downloaded, checked against
its SHA-256, and the HDF5 file extracted once into the cache (201 MB).

FIRST images: "Permission is granted for publication and reproduction of
this material for scholarly, educational, and private non-commercial use"
(the FIRST project team, copyright 1994 University of California).

Reference: {CITATION}
"""


def _extract_h5(wheel: Path, folder: Path) -> Path:
    """Extract the HDF5 file from the wheel into ``folder``, atomically."""
    target = folder / _H5_NAME
    if target.is_file():
        return target
    check_writable_folder(folder, f"'{_H5_NAME}' (extracted from '{wheel.name}')")
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{_H5_NAME}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as outer:
            with (
                outer.open(_INNER_ZIP) as inner_file,
                zipfile.ZipFile(inner_file) as inner,
                inner.open(_H5_NAME) as src,
            ):
                shutil.copyfileobj(src, out, 1 << 20)
        publish(tmp, target)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise OSError(
            f"'{wheel}' does not hold {_INNER_ZIP}/{_H5_NAME} ({exc}); delete it to "
            "download it again."
        ) from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _read_h5(path: Path, subset: str) -> dict:
    import h5py

    images, labels, splits, ra, dec, source = [], [], [], [], [], []
    with h5py.File(path, "r") as f:
        keys = sorted(f.keys(), key=lambda k: int(k.rsplit("_", 1)[-1]))
        for key in keys:
            group = f[key]
            split = group["Split_literature"].asstr()[()]
            if subset != "all" and split != subset:
                continue
            img = group["Img"]
            images.append(img[()])
            labels.append(int(group["Label_literature"][()]))
            splits.append(split)
            ra.append(float(img.attrs["RA"]))
            dec.append(float(img.attrs["DEC"]))
            source.append(str(img.attrs["Source"]))
    if not images:
        raise OSError(
            f"'{path}' holds no image of subset {subset!r}; delete it and the "
            "wheel beside it to download them again."
        )
    data = np.stack(images)[:, None].astype(np.float32)
    data /= np.float32(255.0)
    return dict(
        data=data,
        target=np.array(labels, dtype=np.int64),
        split=np.array(splits, dtype=str),
        ra=np.array(ra),
        dec=np.array(dec),
        catalog=np.array(source, dtype=str),
    )


@validate_params(
    {"subset": [StrOptions({"train", "valid", "test", "all"})], **FETCH_CONSTRAINTS}
)
@fill_doc(folder=FOLDER)
def fetch_first_radio_galaxies(
    *,
    subset: str = "train",
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    return_X_y: bool = False,
    n_retries: int = 3,
    delay: float = 1.0,
) -> Bunch | tuple:
    """Load the FIRST radio-galaxy images of Griese et al. (2023).

    Downloads the wheel of the PyPI package ``firstgalaxydata`` (14 MB,
    once; its dependencies are not installed) into ``data_home``, checks its
    SHA-256, extracts the HDF5 file of the data set (201 MB) and reads the
    images of the published split.

    =================   ============================================
    Images              2,158: train 1,758, valid 200, test 200
    Classes             FRI 495, FRII 924, Compact 391, Bent 348
    Size                1 x 300 x 300 pixels, float32 in [0, 1]
    =================   ============================================

    Parameters
    ----------
    subset : {"train", "valid", "test", "all"}, default="train"
        Part of the published (literature) split to load.
    %(data_home)s
    %(download_if_missing)s
    %(return_X_y)s
    %(retries)s

    %(bunch_returns)s

        data : ndarray of float32 of shape (n_images, 1, 300, 300)
            The images (channels first), the published 8-bit values divided
            by 255. The train subset takes 633 MB, ``"all"`` 777 MB.
        target : ndarray of int64 of shape (n_images,)
            Published label: 0 FRI, 1 FRII, 2 Compact, 3 Bent.
        target_names : tuple of str
            :data:`FIRST_CLASSES`.
        split : ndarray of str of shape (n_images,)
            ``"train"``, ``"valid"`` or ``"test"``.
        ra, dec : ndarray of shape (n_images,)
            J2000 position of the image centre, degrees.
        catalog : ndarray of str of shape (n_images,)
            Literature catalogue of the label (``"MiraBest"``, ``"Gendre"``,
            ``"Capetti2017a"``, ``"Capetti2017b"``, ``"Baldi2018"``,
            ``"Proctor_Tab1"``).
        %(descr_citation)s

    %(X_y_tuple)s

    %(fetch_raises)s

    References
    ----------
    F. Griese et al., Data in Brief 47, 108974 (2023).

    Examples
    --------
    >>> from skastro.datasets import fetch_first_radio_galaxies
    >>> X, y = fetch_first_radio_galaxies(subset="test",
    ...                                   return_X_y=True)  # doctest: +SKIP
    >>> X.shape, np.bincount(y)  # doctest: +SKIP
    ((200, 1, 300, 300), array([50, 50, 50, 50]))
    """
    folder = get_data_home(data_home) / FOLDER
    h5_path = folder / _H5_NAME
    if not h5_path.is_file():
        wheel = fetch_file(
            _WHEEL,
            folder,
            download_if_missing=download_if_missing,
            n_retries=n_retries,
            delay=delay,
        )
        h5_path = _extract_h5(wheel, folder)
    out = _read_h5(h5_path, subset)
    if return_X_y:
        return out["data"], out["target"]
    return Bunch(**out, target_names=FIRST_CLASSES, DESCR=DESCR, citation=CITATION)
