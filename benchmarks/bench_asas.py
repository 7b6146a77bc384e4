"""Benchmark: ASAS variable-star classification, feature sets into one forest.

The ASAS training set of Richards et al. (2012), the 797 curves of the 22
classes with at least 5 members. Each feature table goes into the same
random forest (median imputation, then ``RandomForestClassifier``) over the
same 5 stratified folds (shuffled, ``random_state=0``), with the protocol of
the ``real`` section of ``skastro demo`` (``skastro/_demo/real.py``, size
``paper``): nested cross-validation, a ``GridSearchCV`` on 3 inner folds of
each training part choosing among 500-tree forests (``max_features`` sqrt or
0.3, ``min_samples_leaf`` 1 or 2, ``class_weight`` None or
``"balanced_subsample"``), so no figure is selected on the folds that
measure it. Reported: accuracy of the out-of-fold predictions with a 95 %
bootstrap interval (1,000 resamples), for the nested search and for the
untuned 500-tree forest on the same folds (``--untuned-only``: that one
only, a minute per feature set), and the recall of each class (of the
nested predictions, or of the untuned ones with ``--untuned-only``).

Feature sets (``--variants``):

* ``fats``: the 59 default ``FATSFeatures``;
* ``fats+richards``: ``FATSFeatures(features="fats+richards")``, the 59 and
  the 23 opt-in period and folded-curve features of Richards et al.
  (2011, 2012);
* ``light-curve``: 27 features of the ``light-curve`` package
  (:func:`skastro._demo.real.light_curve_package_features`);
* ``fats+richards+light-curve``: both tables side by side (109 columns).

The feature tables are computed once and cached (``--cache``, an ``.npz``);
the cross-validation then costs only the forests (15-30 minutes per
feature set on one core for the nested search, 1 minute untuned).

Usage::

    python benchmarks/bench_asas.py                       # every feature set
    python benchmarks/bench_asas.py --variants fats+richards --untuned-only

The curves come from :func:`skastro.datasets.fetch_asas_variables`: its
cache (``--data-home``), or ../shared/realdata/asas where present (the
project's copy of the same files).

Measured (one core of the shared 2-core development machine; features of
the 797 curves 2.5-7 minutes with the machine's load), accuracy [95 %
bootstrap interval], nested tuned forest / untuned forest:
fats 0.738 [0.706, 0.769] / 0.730 [0.699, 0.762];
fats+richards 0.762 [0.733, 0.790] / 0.755 [0.726, 0.785] with the first 20
Richards features (79 columns), untuned 0.772 [0.743, 0.801] with all 23
(82 columns; the nested search not re-run);
light-curve 0.750 [0.721, 0.779] / 0.731 [0.703, 0.763];
fats+richards+light-curve 0.777 [0.748, 0.806] / 0.764 [0.735, 0.792] (with
the 79).
Per-class recall and the errors: docs/user_guide/real_data.rst (section
"ASAS variable stars").
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from skastro._demo.real import SECTION, light_curve_package_features
from skastro.datasets import fetch_asas_variables
from skastro.exceptions import LightCurveWarning
from skastro.lightcurves import FATSFeatures
from skastro.metrics import bootstrap_ci

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("fats", "fats+richards", "light-curve", "fats+richards+light-curve")
N_FATS = 59


def _realdata_home() -> Path | None:
    """A loader cache holding copies of ../shared/realdata/asas, if present."""
    for candidate in (
        ROOT.parent / "shared" / "realdata",
        ROOT / "shared" / "realdata",
    ):
        folder = candidate / "asas"
        if (folder / "asas_training_set.tar.gz").is_file():
            home = Path(tempfile.mkdtemp(prefix="skastro_asas_"))
            (home / "asas_variables").mkdir()
            for name in ("asas_training_set.tar.gz", "asas_training_set_classes.dat"):
                shutil.copy(folder / name, home / "asas_variables" / name)
            return home
    return None


def load(data_home: str | None):
    """The 797 curves of the classes with >= 5 members, their classes and ids."""
    home = data_home
    if home is None:
        found = _realdata_home()
        home = None if found is None else str(found)
    bunch = fetch_asas_variables(data_home=home, min_class_size=5)
    return bunch.data, np.asarray(bunch.target), np.asarray(bunch.ids)


def feature_tables(curves, ids, cache: Path) -> dict[str, np.ndarray]:
    """The FATS + Richards (82 columns) and light-curve (27) tables, cached.

    A cache written for other curves or another set of columns (an earlier
    version of the Richards features) is recomputed, not reused.
    """
    fats = FATSFeatures(features="fats+richards").fit()
    names = np.asarray(fats.get_feature_names_out())
    if cache.is_file():
        saved = np.load(cache, allow_pickle=False)
        if (
            np.array_equal(saved["ids"], ids)
            and "names" in saved
            and np.array_equal(saved["names"], names)
        ):
            return {"fats+richards": saved["fats_richards"], "lc": saved["lc"]}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LightCurveWarning)
        fats = fats.transform(curves)
    t_fats = time.perf_counter() - t0
    t0 = time.perf_counter()
    lc, _ = light_curve_package_features(curves)
    print(
        f"features: FATS + Richards {t_fats:.0f} s, light-curve "
        f"{time.perf_counter() - t0:.0f} s ({len(curves)} curves, one core)"
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, ids=ids, names=names, fats_richards=fats, lc=lc)
    return {"fats+richards": fats, "lc": lc}


def variant_table(name: str, tables: dict[str, np.ndarray]) -> np.ndarray:
    fr, lc = tables["fats+richards"], tables["lc"]
    return {
        "fats": fr[:, :N_FATS],
        "fats+richards": fr,
        "light-curve": lc,
        "fats+richards+light-curve": np.hstack([fr, lc]),
    }[name]


def evaluate(X, y, *, nested: bool, random_state: int = 0) -> dict:
    """Out-of-fold accuracy (nested tuned forest and untuned), recall per class."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import accuracy_score, recall_score
    from sklearn.model_selection import (
        GridSearchCV,
        StratifiedKFold,
        cross_val_predict,
    )
    from sklearn.pipeline import Pipeline

    cv = StratifiedKFold(5, shuffle=True, random_state=random_state)
    inner = StratifiedKFold(3, shuffle=True, random_state=random_state)
    forest = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("forest", RandomForestClassifier(random_state=random_state, n_jobs=1)),
        ]
    )
    labels = np.unique(y)
    out = {"n_features": int(X.shape[1])}
    untuned = cross_val_predict(
        forest.set_params(forest__n_estimators=500), X, y, cv=cv
    )
    ci = bootstrap_ci(accuracy_score, y, untuned, random_state=random_state)
    out["untuned_accuracy"] = {k: round(float(v), 3) for k, v in ci.items()}
    pred = untuned
    if nested:
        grid = SECTION.settings("paper")["forest_grid"]
        search = GridSearchCV(forest, grid, cv=inner, scoring="accuracy")
        pred = cross_val_predict(search, X, y, cv=cv)
        ci = bootstrap_ci(accuracy_score, y, pred, random_state=random_state)
        out["accuracy"] = {k: round(float(v), 3) for k, v in ci.items()}
    recall = recall_score(y, pred, labels=labels, average=None, zero_division=0)
    out["recall"] = {str(k): round(float(v), 3) for k, v in zip(labels, recall)}
    return out


def _fmt(ci: dict) -> str:
    return f"{ci['value']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS)
    parser.add_argument(
        "--untuned-only", action="store_true", help="skip the nested search"
    )
    parser.add_argument("--data-home", default=None, help="the loader's cache")
    parser.add_argument(
        "--cache",
        default=str(Path(tempfile.gettempdir()) / "skastro_bench_asas" / "tables.npz"),
        help="feature-table cache (.npz)",
    )
    parser.add_argument("--out", default=None, help="write the results as JSON")
    args = parser.parse_args()

    curves, y, ids = load(args.data_home)
    tables = feature_tables(curves, ids, Path(args.cache))
    results = {}
    for name in args.variants:
        t0 = time.perf_counter()
        res = evaluate(variant_table(name, tables), y, nested=not args.untuned_only)
        res["seconds"] = round(time.perf_counter() - t0)
        results[name] = res
        shown = [
            f"{_fmt(res[key])} {label}"
            for key, label in (("accuracy", "nested"), ("untuned_accuracy", "untuned"))
            if key in res
        ]
        print(
            f"{name:28s} {res['n_features']:3d} columns: {', '.join(shown)} "
            f"({res['seconds']} s)",
            flush=True,
        )
    print("recall per class:")
    for label in np.unique(y):
        print(
            f"  {label:20s} n={int(np.sum(y == label)):3d} "
            + " ".join(f"{results[v]['recall'][str(label)]:.2f}" for v in results)
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
