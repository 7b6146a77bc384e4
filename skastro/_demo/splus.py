"""Demo section: magnitude pretraining and star/galaxy/quasar fine-tuning (Martinazzo et al. 2021).

Reduced version of the study in ``examples/plot_splus_pretraining.py``: an
unlabelled pool and a fainter labelled set from simulated S-PLUS fields; the
shipped 12-band pretrainer (``load_pretrained("magnitude-pretrainer-splus-sim")``,
where this installation has it) beside a short live pretraining
(:func:`skastro.recipes.splus_pretrainer`), both measured by
:func:`skastro.training.evaluate_pretrainer` on the same held-out pool
stamps; frozen and fine-tuned classifiers from the pretrained backbone, the
same network from scratch (:func:`skastro.recipes.splus_classifier`) and a
random forest on catalog magnitudes
(:func:`skastro.recipes.splus_magnitude_forest`), with bootstrap intervals;
the fine-tuned FITS catalog → class pipeline is saved for the fresh-process
reload check.

The simulated stamps hold NaN pixels where they reach past the field's
edge; the networks read those as 0 (:func:`skastro.training.splus_view`,
as the shipped model was trained), and the FITS pipeline is checked on the
test objects whose stamps lie inside their field.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import DemoContext, Section, SectionResult, load_shipped, save_model_for_reload
from ._report import chance_flag, format_ci, verdict

SECTION = Section(
    title="S-PLUS: magnitude pretraining -> frozen / fine-tuned star-galaxy-quasar",
    steps=7,
    torch_threads=1,  # it always ran on one
    shipped="magnitude-pretrainer-splus-sim",
    # Settings per demo size: objects in the pool and the labelled set, epochs
    # of the live pretraining, of the classifiers and of their top-only warm-up,
    # the VGG16 width of the live networks (1.0: the paper's), and the
    # simulated fields (:func:`skastro.datasets.make_splus_stamps`).
    sizes={
        "small": {
            "n_pool": 600,
            "n_labelled": 400,
            "pretrain_epochs": 4,
            "classifier_epochs": 12,
            "warmup_epochs": 4,
            "width": 0.125,
            "n_per_field": 1000,
            "field_shape": (1024, 1024),
        },
        "paper": {
            "n_pool": 20000,
            "n_labelled": 10000,
            "pretrain_epochs": 100,
            "classifier_epochs": 110,
            "warmup_epochs": 10,
            "width": 1.0,
            "n_per_field": 1000,
            "field_shape": (1024, 1024),
        },
    },
)

#: Martinazzo et al. (2021), 12 bands: magnitude MAE of the pretext task
#: (mag) and the test accuracy of the fine-tuned and frozen classifiers.
PAPER = {"mae": 0.049, "fine-tuned": 0.9367, "frozen": 0.6859}


def _net_params(ctx: DemoContext) -> dict[str, Any]:
    params: dict[str, Any] = {"verbose": 0, "random_state": ctx.random_state}
    if ctx.net_callbacks():
        params["callbacks"] = ctx.net_callbacks()
    return params


def _pretraining(ctx: DemoContext, s: dict, data) -> dict[str, Any]:
    """The live pretraining and the shipped pretrainer, measured on the same
    held-out pool stamps (:func:`skastro.training.evaluate_pretrainer`)."""
    from sklearn.model_selection import train_test_split

    from .. import recipes
    from ..training import evaluate_pretrainer, splus_view

    rs = ctx.random_state
    pool = data.pool
    X, y = splus_view(pool.stamps, pool.magnitudes.to_numpy(), target_scale=1.0)
    train, test = train_test_split(np.arange(len(y)), test_size=0.1, random_state=rs)
    t0 = time.perf_counter()
    live = recipes.splus_pretrainer(
        width=s["width"],
        schedule="short" if s["width"] < 1 else "paper",
        max_epochs=s["pretrain_epochs"],
        **_net_params(ctx),
    ).fit(X[train], y[train])
    nets = {"live": live}
    shipped = load_shipped(ctx, SECTION.shipped)
    if shipped is not None:
        nets["shipped"] = shipped
    held_out = (pool.stamps[test], pool.magnitudes.to_numpy()[test])
    scores = {
        name: evaluate_pretrainer(net, test_set=held_out, random_state=rs)
        for name, net in nets.items()
    }
    start = "shipped" if shipped is not None else "live"
    return {
        "start": start,
        "net": nets[start],
        "n_test": len(test),
        "mae": {name: sc["mae"] for name, sc in scores.items()},
        "mae_per_band": {
            name: {b: v["value"] for b, v in sc["mae_per_band"].items()}
            for name, sc in scores.items()
        },
        "seconds": time.perf_counter() - t0,
    }


def _classifiers(ctx: DemoContext, s: dict, data, pre: dict) -> dict[str, Any]:
    """Frozen, fine-tuned and from-scratch networks and the magnitude forest
    on the labelled set: test accuracy (bootstrap interval) and recalls."""
    from sklearn.metrics import accuracy_score, recall_score
    from sklearn.model_selection import train_test_split

    from .. import recipes
    from ..metrics import bootstrap_ci

    rs = ctx.random_state
    lab = data.labelled
    X, y = np.nan_to_num(lab.stamps, nan=0.0), np.asarray(lab.target)
    train, test = train_test_split(
        np.arange(len(y)), test_size=0.3, stratify=y, random_state=rs
    )
    params = dict(
        schedule="short" if s["width"] < 1 else "paper",
        warmup_epochs=s["warmup_epochs"],
        max_epochs=s["classifier_epochs"],
        **_net_params(ctx),
    )
    scratch = {
        "module__width": s["width"],
        "module__n_hidden": 256 if s["width"] < 1 else 1024,
    }
    start, source = pre["start"], pre["net"]
    candidates = {
        f"frozen ({start} pretrainer)": recipes.splus_classifier(
            source, freeze="head", **params
        ),
        f"fine-tuned ({start} pretrainer)": recipes.splus_classifier(
            source, freeze="two_phase", **params
        ),
        "from scratch": recipes.splus_classifier(
            None, freeze="none", **params, **scratch
        ),
    }
    t0 = time.perf_counter()
    acc, recall, preds = {}, {}, {}
    for name, clf in candidates.items():
        ctx.step(f"classifier: {name}")
        preds[name] = clf.fit(X[train], y[train]).predict(X[test])
    ctx.step("random forest on magnitudes")
    mags = lab.magnitudes.to_numpy()
    forest = recipes.splus_magnitude_forest(random_state=rs).fit(mags[train], y[train])
    preds["RF on magnitudes"] = forest.predict(mags[test])
    classes = np.unique(y)
    for name, pred in preds.items():
        acc[name] = bootstrap_ci(accuracy_score, y[test], pred, random_state=rs)
        per_class = recall_score(y[test], pred, labels=classes, average=None)
        recall[name] = dict(zip(classes.tolist(), np.round(per_class, 3).tolist()))
    return {
        "accuracy": acc,
        "recall": recall,
        "tuned": candidates[f"fine-tuned ({start} pretrainer)"],
        "train": train,
        "test": test,
        "y_test": y[test],
        "seconds": time.perf_counter() - t0,
    }


def _fits_pipeline(ctx: DemoContext, data, clf: dict) -> dict[str, Any]:
    """FITS catalog → FITSCropper → Calibrator → fine-tuned classifier, on the
    test objects whose stamps lie inside their field: its predictions equal
    the stamps' and it is saved for the reload check."""
    from sklearn.pipeline import make_pipeline

    from ..stamps import Calibrator, FITSCropper

    lab, test = data.labelled, clf["test"]
    inside = test[np.isfinite(lab.stamps[test]).all(axis=(1, 2, 3))]
    catalog = lab.catalog.iloc[inside].reset_index(drop=True)
    cropper = FITSCropper(data.images, size="fwhm", zero_point_keyword="ZP")
    calibrator = Calibrator(stretch="asinh", asinh_softening=1e-4)
    cropper.fit(catalog)
    calibrator.fit(cropper.transform(catalog.iloc[:4]))
    pipe = make_pipeline(cropper, calibrator, clf["tuned"])
    same = bool(
        np.array_equal(pipe.predict(catalog), clf["tuned"].predict(lab.stamps[inside]))
    )
    name = "splus_finetuned_fits_to_class"
    return {
        "n_objects": len(inside),
        "n_test": len(test),
        "same": same,
        "paths": save_model_for_reload(ctx, name, pipe, catalog),
    }


def _card_mae() -> str | None:
    """The shipped pretrainer's MAE on its card's larger test set."""
    from ..models import model_card

    try:
        metrics = model_card(SECTION.shipped)["metrics"]
        return f"{format_ci(metrics['mae'])} on {metrics['sets']['test']}"
    except (KeyError, TypeError, ValueError):
        return None


def _summary(s: dict, data, pre: dict, clf: dict, fits: dict) -> str:
    """The section's Markdown: MAE, the accuracy table, the verdict."""
    from ..metrics import chance_level

    pool, lab = data.pool, data.labelled
    acc, start = clf["accuracy"], pre["start"]
    chance = chance_level(clf["y_test"])
    rows = ["| model | accuracy | recall GALAXY / QSO / STAR |", "|---|---|---|"]
    for name, r in clf["recall"].items():
        rows.append(
            f"| {name} | {format_ci(acc[name])}{chance_flag(acc[name], chance)} | "
            f"{r.get('GALAXY', 0):.2f} / "
            f"{r.get('QSO', 0):.2f} / {r.get('STAR', 0):.2f} |"
        )
    mae = ", ".join(f"{k} {format_ci(v)}" for k, v in pre["mae"].items())
    card = _card_mae() if start == "shipped" else None
    why = None
    if max(acc, key=lambda k: acc[k]["value"]) == "RF on magnitudes":
        why = (
            "unlike the paper, the forest on catalog magnitudes leads: it is "
            "handed the 12 magnitudes the pretext task must learn from pixels, "
            f"and the networks saw {len(clf['train'])} labelled stamps for "
            f"{s['classifier_epochs']} epochs (the paper: tens of thousands, "
            "100+ epochs)"
        )
    return "\n".join(
        [
            f"Pool {len(pool.stamps)} objects (mean r {pool.catalog.r.mean():.2f}), labelled "
            f"{len(lab.stamps)} (mean r {lab.catalog.r.mean():.2f}); live "
            f"pretraining: VGG16 width {s['width']}, {s['pretrain_epochs']} "
            "epochs; "
            + (
                f"shipped pretrainer `load_pretrained({SECTION.shipped!r})`; the "
                "classifiers start from it."
                if start == "shipped"
                else f"`{SECTION.shipped}` is not shipped in this installation: the "
                "classifiers start from the live pretraining."
            )
            + f" Test set {len(clf['test'])} objects (chance {chance:.3f}, the "
            "majority class); 95% bootstrap intervals.",
            "",
            f"Pretraining MAE on {pre['n_test']} held-out pool stamps (mag, every "
            f"measured band): {mae}"
            + (f"; the shipped model's card: {card}" if card else "")
            + f" (Martinazzo et al. 2021, 12 bands: {PAPER['mae']}).",
            "",
            *rows,
            "",
            f"FITS catalog → class pipeline on the {fits['n_objects']} of "
            f"{fits['n_test']} test objects whose stamps lie inside their field: "
            f"predictions equal the stamps' predictions: {fits['same']}.",
            "",
            verdict(
                acc,
                chance=chance,
                paper="Martinazzo et al. (2021), 12 bands: fine-tuned "
                f"{PAPER['fine-tuned']:.3f}, frozen {PAPER['frozen']:.3f}",
                why=why,
            ),
        ]
    )


def run(ctx: DemoContext) -> SectionResult:
    from ..datasets import make_splus_stamps

    s = SECTION.settings(ctx.size)
    ctx.step("simulating fields, cropping stamps")
    t0 = time.perf_counter()
    data = make_splus_stamps(
        ctx.out / "splus_pretraining",
        n_pool=s["n_pool"],
        n_labelled=s["n_labelled"],
        n_per_field=s["n_per_field"],
        field_shape=s["field_shape"],
        random_state=ctx.random_state,
    )
    t_data = time.perf_counter() - t0
    ctx.log(f"simulated fields and cropped stamps in {t_data:.0f} s")
    ctx.step("magnitude pretraining")
    pre = _pretraining(ctx, s, data)
    ctx.log(f"pretraining MAE in {pre['seconds']:.0f} s: {pre['mae']}")
    clf = _classifiers(ctx, s, data, pre)
    ctx.step("FITS catalog -> class pipeline")
    fits = _fits_pipeline(ctx, data, clf)
    acc, start = clf["accuracy"], pre["start"]
    tuned, frozen = f"fine-tuned ({start} pretrainer)", f"frozen ({start} pretrainer)"
    return SectionResult(
        summary=_summary(s, data, pre, clf, fits),
        metrics={
            "pretrainer": start,
            "pretraining_mae_mag": pre["mae"],
            "pretraining_mae_per_band": pre["mae_per_band"],
            "accuracy": acc,
            "recall": clf["recall"],
            "fits_pipeline_matches": fits["same"],
            "fits_pipeline_objects": fits["n_objects"],
            "seconds": {
                "data": round(t_data, 1),
                "pretraining": round(pre["seconds"], 1),
                "classifiers": round(clf["seconds"], 1),
            },
        },
        models={"splus_finetuned_fits_to_class": fits["paths"]},
        comparisons=[
            *[
                (f"pretraining MAE, 12 bands, {k} (mag)", v["value"], PAPER["mae"])
                for k, v in pre["mae"].items()
            ],
            (f"{tuned} accuracy", acc[tuned]["value"], PAPER["fine-tuned"]),
            (f"{frozen} accuracy", acc[frozen]["value"], PAPER["frozen"]),
            ("from-scratch accuracy", acc["from scratch"]["value"], None),
            (
                "RF on catalog magnitudes accuracy",
                acc["RF on magnitudes"]["value"],
                None,
            ),
        ],
    )
