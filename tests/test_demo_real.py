"""The demo's ``real`` section: real survey data from the loaders' cache.

The cache is filled from a local HTTP server on 127.0.0.1 (the loaders'
``SKASTRO_DATA_MIRROR``) with the files of ``../shared/realdata``, or with
tiny files of the published formats; the tests skip where the real files are
absent. Nothing is downloaded.
"""

from __future__ import annotations

import re
import shutil
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from skastro import datasets
from skastro._demo import DemoContext
from skastro._demo import real as section
from skastro.datasets import _first

from .datasets.test_fetch import _first_wheel, _remote, server  # noqa: F401


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty cache folder and no mirror: the demo must not touch the network."""
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("SKASTRO_DATA_MIRROR", "http://127.0.0.1:9")  # discard port
    return tmp_path / "cache"


def _ctx(tmp_path, size="small"):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return DemoContext(out=out, size=size, verbose=0)


def _serve(server, folder, paths, loader):  # noqa: F811
    """Serve ``paths`` and fill the cache with ``loader`` (the demo itself
    reads the cache only)."""
    (server.root / folder).mkdir(exist_ok=True)
    for path in paths:
        shutil.copy(path, server.root / folder / path.name)
    loader()


def test_empty_cache_one_line_and_nothing_else(tmp_path, empty_cache):
    """Without data the section runs, says in one line how to fill the cache,
    and reports no figures, models or comparisons."""
    res = section.run(_ctx(tmp_path))
    first_line = res.summary.splitlines()[0]
    assert first_line.startswith("Not in the cache")
    assert section.FILL_CACHE in first_line
    for loader in (
        "fetch_asas_variables",
        "fetch_macho_variables",
        "fetch_first_radio_galaxies",
        "fetch_2mass_galactic_center",
        "fetch_glimpse_field",
    ):
        assert loader in first_line and loader in section.FILL_CACHE
    assert res.figures == [] and res.models == {} and res.comparisons == []
    assert res.metrics["missing"] == sorted(res.metrics["missing"])
    assert not empty_cache.exists()  # nothing was created or downloaded


def test_light_curve_package_features_columns():
    """27 named columns from the light-curve package, one row per curve."""
    rng = np.random.default_rng(0)
    curves = []
    for period in (0.7, 3.1, 45.0):
        t = np.sort(rng.uniform(0, 500, 120))
        m = 12 + 0.3 * np.sin(2 * np.pi * t / period) + rng.normal(0, 0.02, t.size)
        curves.append((t, m, np.full(t.size, 0.02)))
    table, names = section.light_curve_package_features(curves)
    assert table.shape == (3, 27) and len(names) == 27
    assert "periodogram_period_0" in names and "stetson_K" in names
    periods = table[:, names.index("periodogram_period_0")]
    np.testing.assert_allclose(periods, [0.7, 3.1, 45.0], rtol=0.02)


def test_first_stamps_area_average():
    """Central crop then area averaging: shape, [0, 1] range and mean kept."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (3, 1, 300, 300)).astype(np.float32)
    stamps = section.first_stamps(images, 64)
    assert stamps.shape == (3, 1, 64, 64) and stamps.dtype == np.float32
    centre = images[..., 75:225, 75:225]
    np.testing.assert_allclose(
        stamps.mean(axis=(-2, -1)), centre.mean(axis=(-2, -1)), rtol=1e-5
    )
    assert stamps.min() >= 0 and stamps.max() <= 1
    ones = section.first_stamps(np.ones((1, 1, 300, 300), np.float32), 32)
    np.testing.assert_allclose(ones, 1.0, rtol=1e-5)


def test_macho_periods_real_files(realdata, server, tmp_path, monkeypatch):  # noqa: F811
    """FATSFeatures recovers >= 90 % of the MACHO catalogue periods within 1 %."""
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "cache"))
    _serve(
        server,
        "macho_variables",
        sorted((realdata / "macho").iterdir()),
        datasets.fetch_macho_variables,
    )
    missing: list[str] = []
    out = section._macho(_ctx(tmp_path), missing)
    assert missing == [] and out["n_curves"] == 30
    assert out["within_1pct"] >= 0.9
    assert len(out["failures"]) == 30 - out["n_within_1pct"]


def test_glimpse_match_real_files(realdata, server, tmp_path, monkeypatch):  # noqa: F811
    """Our sep detections match >= 90 % of the GLIMPSE catalogue within 1 arcsec."""
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "cache"))
    fits_dir = realdata / "fits"
    _serve(
        server,
        "astropy_images",
        [
            fits_dir / "spitzer_example_image.fits",
            fits_dir / "spitzer_example_catalog.xml",
        ],
        datasets.fetch_glimpse_field,
    )
    out = section._glimpse(_ctx(tmp_path), [])
    assert out["n_catalogue"] == 224 and out["n_catalogue_in_image"] > 200
    assert out["match_fraction_1arcsec"] >= 0.9
    assert out["median_offset_arcsec"] < 0.6


def test_2mass_chain_real_files(realdata, server, tmp_path, monkeypatch):  # noqa: F811
    """2MASS stars: MAGZP-scale photometry, then FITSCropper -> Calibrator ->
    SourceFeatures on sky-subtracted stamps on the same magnitude scale."""
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "cache"))
    _serve(
        server,
        "astropy_images",
        [realdata / "fits" / f"gc_2mass_{b}.fits" for b in "jhk"],
        datasets.fetch_2mass_galactic_center,
    )
    ctx = _ctx(tmp_path)
    out = section._twomass(ctx, {"n_stars": 60}, [])
    assert out["n_stars"] == 60
    assert out["zero_point"] == {"J": 20.9044, "H": 20.4871, "K": 19.9757}
    # stars towards the Galactic centre are reddened: H - K > 0.5 mag
    assert out["median_colours"]["H-K"] > 0.5
    if "pipeline_error" in out:
        pytest.xfail(out["pipeline_error"])
    # Calibrator's header zero points: exactly the MAGZP scale
    assert out["calibration_factor_max_rel_error"] < 1e-5
    # MAG_AUTO against 3-pixel apertures on the background-subtracted image
    # (a crowded field: Kron apertures take in some light of neighbours)
    for band, diff in out["mag_auto_minus_direct_sky_subtracted"].items():
        assert abs(diff["median"]) < 0.3, band
    assert set(out["sky_dn_per_pixel"]) == {"J", "H", "K"}


@pytest.mark.slow
def test_asas_small_real_files(realdata, server, tmp_path, monkeypatch):  # noqa: F811
    """The feature sets (FATSFeatures, with the Richards et al. features,
    light-curve) through the same tuned forest on the same folds: the
    figures, the confusion matrix and a reloadable light-curve pipeline."""
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "cache"))
    _serve(
        server,
        "asas_variables",
        [
            realdata / "asas" / "asas_training_set.tar.gz",
            realdata / "asas" / "asas_training_set_classes.dat",
        ],
        datasets.fetch_asas_variables,
    )
    cfg = dict(
        section.SECTION.settings("small"),
        asas_min_class=80,
        asas_per_class=10,
        forest_grid={"forest__n_estimators": [50], "forest__max_features": ["sqrt"]},
    )
    ctx = _ctx(tmp_path)
    out = section._asas(ctx, cfg, [])
    assert out["n_curves"] == 30 and out["classes"] == [
        "Classical_Cepheid",
        "Mira",
        "RR_Lyrae_FM",
    ]
    assert out["results"]["FATSFeatures + Richards"]["n_features"] == 82
    for name in ("FATSFeatures", "FATSFeatures + Richards", "light-curve"):
        r = out["results"][name]
        assert r["accuracy"]["low"] <= r["accuracy"]["value"] <= r["accuracy"]["high"]
        assert set(r["recall"]) == set(out["classes"])
        assert r["accuracy"]["value"] > 0.5  # three well-separated classes
    assert (ctx.out / "real_asas_confusion.png").is_file()
    model_path, input_path = out["model"]
    assert (ctx.out / model_path).is_file() and (ctx.out / input_path).is_file()


@pytest.fixture
def tiny_first(server, monkeypatch, tmp_path):  # noqa: F811
    """A FIRST wheel of 300 x 300 noise images, 2 per class and split."""
    monkeypatch.setenv("SKASTRO_DATA", str(tmp_path / "cache"))
    labels = [0, 0, 1, 1, 2, 2, 3, 3]
    wheel, _ = _first_wheel(
        {"train": labels, "valid": labels, "test": labels}, size=300
    )
    name = _first._WHEEL.filename
    server.add("first_radio_galaxies", name, wheel)
    monkeypatch.setattr(_first, "_WHEEL", _remote(name, wheel))
    datasets.fetch_first_radio_galaxies(subset="test")


@pytest.mark.slow
def test_first_one_search_four_families(tiny_first, tmp_path):
    """One GridSearchCV on the published split yields the four families, each
    with valid and test accuracy and per-class recall, and a Grad-CAM figure."""
    cfg = dict(
        section.SECTION.settings("small"),
        first_train_per_class=None,
        cnn_epochs=1,
        transfer_epochs=1,
        svm_C=[1.0],
    )
    ctx = _ctx(tmp_path)
    out = section._first(ctx, cfg, [])
    assert (out["n_train"], out["n_valid"], out["n_test"]) == (8, 8, 8)
    assert set(out["families"]) == {
        "LSBGNet CNN (one-vs-rest)",
        "EfficientNet-B0 (from scratch)",
        "SourceFeatures -> SVM",
        "SourceFeatures -> forest",
    }
    for fam in out["families"].values():
        assert 0 <= fam["test_accuracy"]["value"] <= 1
        assert list(fam["recall"]) == ["FRI", "FRII", "Compact", "Bent"]
    assert (ctx.out / "real_first_gradcam.png").is_file()
    assert out["stamp"] == {"crop_pixels": 150, "size": 32, "arcsec_per_pixel": 8.438}
    # the CNN against the better feature baseline, paired on the test images
    vs = out["cnn_vs_features"]
    assert vs["baseline"] in {"SourceFeatures -> SVM", "SourceFeatures -> forest"}
    diff = vs["difference"]
    cnn, base = out["families"][vs["cnn"]], out["families"][vs["baseline"]]
    assert diff["value"] == pytest.approx(
        cnn["test_accuracy"]["value"] - base["test_accuracy"]["value"]
    )
    assert diff["low"] <= diff["value"] <= diff["high"]
    lines, _ = section._first_report(out)
    (line,) = [x for x in lines if x.startswith("**Verdict:**")]
    assert f"paired difference on the same {out['n_test']} test images" in line
    assert vs["baseline"] in line


def _ci(value, low, high):
    return {"value": value, "low": low, "high": high}


def test_first_report_paired_verdict_chance_flag_and_why():
    """The FIRST verdict judges the win by the paired difference (no
    contradiction with overlapping intervals), flags a family at chance in
    the table, the verdict and the summary rows, and says why the CNN loses
    at the demo's size where our larger runs found it ahead."""
    classes = ("FRI", "FRII", "Compact", "Bent")

    def family(acc, recall):
        return {
            "valid_accuracy": acc["value"],
            "test_accuracy": acc,
            "recall": dict(zip(classes, recall)),
            "params": {},
        }

    first = {
        "n_train": 160,
        "n_valid": 200,
        "n_test": 200,
        "stamp": {"crop_pixels": 150, "size": 32, "arcsec_per_pixel": 8.438},
        "families": {
            "LSBGNet CNN (one-vs-rest)": family(
                _ci(0.425, 0.355, 0.495), (0.1, 0.06, 1.0, 0.54)
            ),
            "EfficientNet-B0 (from scratch)": family(
                _ci(0.25, 0.19, 0.31), (0.0, 0.0, 1.0, 0.0)
            ),
            "SourceFeatures -> SVM": family(
                _ci(0.545, 0.475, 0.61), (0.34, 0.36, 0.88, 0.6)
            ),
            "SourceFeatures -> forest": family(
                _ci(0.525, 0.455, 0.585), (0.34, 0.38, 0.9, 0.48)
            ),
        },
        "cnn_vs_features": {
            "cnn": "LSBGNet CNN (one-vs-rest)",
            "baseline": "SourceFeatures -> SVM",
            "difference": _ci(-0.12, -0.19, -0.04),
        },
        "chance": 0.25,
        "cnn_epochs": 5,
    }
    lines, comparisons = section._first_report(first)
    (line,) = [x for x in lines if x.startswith("**Verdict:**")]
    assert line.startswith("**Verdict:** SourceFeatures -> SVM wins on test accuracy")
    assert "0.120 [0.040, 0.190] excludes 0" in line
    assert "not a clear win" not in line
    assert "**at chance** (0.250): EfficientNet-B0 (from scratch)" in line
    assert "160 training images for 5 epochs at 32x32" in line
    assert "0.670 [0.605, 0.730]" in line and "separate runs" in line
    (row,) = [x for x in lines if x.startswith("| EfficientNet-B0")]
    assert "0.250 [0.190, 0.310] (**at chance**)" in row
    assert sum("(**at chance**)" in x for x in lines if x.startswith("| ")) == 1
    flagged = [m for m, _, _ in comparisons if m.endswith("(at chance)")]
    assert flagged == [
        "FIRST test accuracy, EfficientNet-B0 (from scratch) (at chance)"
    ]
    # the CNN ahead (as in our larger runs): no "why" clause
    first["families"]["LSBGNet CNN (one-vs-rest)"]["test_accuracy"] = _ci(
        0.7, 0.635, 0.76
    )
    first["cnn_vs_features"]["difference"] = _ci(0.155, 0.08, 0.23)
    lines, _ = section._first_report(first)
    (line,) = [x for x in lines if x.startswith("**Verdict:**")]
    assert line.startswith("**Verdict:** LSBGNet CNN (one-vs-rest) wins")
    assert "larger runs" not in line


# ---------------------------------------------------------------------------
# the docs page's recipes, "From your files to a prediction", run as written

_DOCS = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "real_data.rst"


def _recipes() -> list[str]:
    """The python code blocks of the section 'From your files to a prediction'."""
    text = _DOCS.read_text()
    start = text.index("From your files to a prediction\n---")
    end = text.index("Which estimator for which data\n~~~")
    blocks = re.findall(
        r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text[start:end]
    )
    return [textwrap.dedent(b) for b in blocks]


@pytest.fixture
def user_folders(realdata, tmp_path, monkeypatch):
    """The folders a user would have, made from ../shared/realdata: 2MASS
    images and a catalogue CSV, ASAS curves as one CSV per star, two ZTF alert
    packets with ALeRCE's labelled r-band supernovae."""
    import sep
    from astropy.io import fits
    from astropy.wcs import WCS

    root = tmp_path / "user"
    (root / "field").mkdir(parents=True)
    for b in "jhk":
        shutil.copy(realdata / "fits" / f"gc_2mass_{b}.fits", root / "field")
    # the catalogue: bright K stars away from the edges; a class for 30 of
    # them (here by their K flux: the recipe's mechanics, not a science case)
    k = fits.getdata(root / "field" / "gc_2mass_k.fits").astype(np.float64)
    bkg = sep.Background(k)
    objs = sep.extract(k - bkg.back(), 20.0, err=bkg.globalrms)
    inside = (objs["x"] > 10) & (objs["x"] < k.shape[1] - 11)
    inside &= (objs["y"] > 10) & (objs["y"] < k.shape[0] - 11)
    objs = objs[inside][:40]
    sky = WCS(fits.getheader(root / "field" / "gc_2mass_k.fits")).pixel_to_world(
        objs["x"], objs["y"]
    )
    label = np.where(objs["flux"] > np.median(objs["flux"]), "bright", "faint")
    label = label.astype(object)
    label[30:] = None
    pd.DataFrame({"ra": sky.ra.deg, "dec": sky.dec.deg, "label": label}).to_csv(
        root / "catalog.csv", index=False
    )
    # ASAS curves of three classes, one CSV per star (the loader reads the
    # cache: the files copied in, as on a machine without internet)
    cache = tmp_path / "cache" / "asas_variables"
    cache.mkdir(parents=True)
    for name in ("asas_training_set.tar.gz", "asas_training_set_classes.dat"):
        shutil.copy(realdata / "asas" / name, cache / name)
    asas = datasets.fetch_asas_variables(
        data_home=tmp_path / "cache", min_class_size=80, download_if_missing=False
    )
    (root / "curves").mkdir()
    rows = []
    for cls in np.unique(asas.target):
        for i in np.flatnonzero(np.asarray(asas.target) == cls)[:8]:
            t, m, e = asas.data[i]
            pd.DataFrame({"hjd": t, "vmag": m, "vmag_err": e}).to_csv(
                root / "curves" / f"{asas.ids[i]}.csv", index=False
            )
            rows.append((asas.ids[i], cls))
    pd.DataFrame(rows, columns=["id", "class"]).to_csv(
        root / "classes.csv", index=False
    )
    # alert packets, and labelled r-band ZTF curves of the same survey
    (root / "alerts").mkdir()
    for path in (realdata / "ztf_alerts").glob("*.avro"):
        shutil.copy(path, root / "alerts")
    det = pd.read_csv(realdata / "alerce_sne" / "30_sne_detections_corr.csv")
    det = det[det["fid"] == 2]
    det.rename(
        columns={"objectId": "id", "mjd": "time", "magpsf": "mag", "sigmapsf": "err"}
    )[["id", "time", "mag", "err"]].to_csv(root / "labelled_curves.csv", index=False)
    lab = pd.read_csv(realdata / "alerce_sne" / "30_sne_labels.csv")
    lab.rename(columns={"objectId": "id", "classALeRCE": "class"}).to_csv(
        root / "labels.csv", index=False
    )
    monkeypatch.chdir(root)
    return root


def test_docs_recipes_from_folders_to_predictions(user_folders):
    """The page's three recipes (FITS folder + catalogue, light-curve CSVs,
    alert packets) run as written and end in predictions."""
    from skastro.exceptions import LightCurveWarning

    recipes = _recipes()
    assert len(recipes) == 3
    results = []
    for code in recipes:
        namespace: dict = {}
        with warnings.catch_warnings():
            # real curves: repeated times, one-point alert curves (named in
            # the warning, documented on the page)
            warnings.simplefilter("ignore", LightCurveWarning)
            exec(compile(code, str(_DOCS), "exec"), namespace)  # noqa: S102
        results.append(namespace)
    images, curves, alerts = results
    assert len(images["predicted"]) == 10
    assert set(images["predicted"]) <= {"bright", "faint"}
    assert images["model"][-1].n_features_in_ > 10
    assert curves["features"].shape == (24, 59)
    assert curves["search"].best_score_ > 0.6  # Cepheids, Miras, RR Lyrae
    assert len(curves["predicted"]) == 1
    assert curves["predicted"][0] in set(curves["labels"])
    assert alerts["predicted"].index.tolist() == ["ZTF17aaacxxf.r", "ZTF17aaajnnn.r"]
    assert set(alerts["predicted"]) <= set(alerts["labels"])
    # 29 of ALeRCE's 30 supernovae have r-band detections
    assert alerts["X_train"].shape[0] == 29 and alerts["labels"].size == 30
    assert alerts["photometry"]["mag"].shape[0] == 2  # one sequence per object
