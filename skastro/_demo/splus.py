"""Demo section: magnitude pretraining and star/galaxy/quasar fine-tuning (Martinazzo et al. 2021).

Reduced version of the study in ``examples/plot_splus_pretraining.py``: an
unlabelled pool and a fainter labelled set from simulated S-PLUS fields, a
12-band :class:`~skastro.nn.MagnitudePretrainer`, frozen and fine-tuned
:class:`~skastro.nn.PretrainedStampClassifier`, the same network from
scratch and a random forest on catalog magnitudes; the fine-tuned FITS
catalog → class pipeline is saved for the fresh-process reload check.
"""

from __future__ import annotations

import time

import numpy as np

from . import DemoContext, SectionResult, save_model_for_reload

TITLE = "S-PLUS: magnitude pretraining -> frozen / fine-tuned star-galaxy-quasar"
STEPS = 7

# (pool, labelled, pretraining epochs, classifier epochs, top-only epochs, width)
_SIZES = {
    "small": (600, 400, 6, 14, 5, 0.125),
    "paper": (20000, 10000, 100, 110, 10, 1.0),
}


def run(ctx: DemoContext) -> SectionResult:
    import torch
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import recall_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    from ..datasets import SPLUS_BANDS, make_splus_stamps
    from ..nn import MagnitudePretrainer, PretrainedStampClassifier
    from ..stamps import Calibrator, FITSCropper

    torch.set_num_threads(1)
    n_pool, n_lab, pre_epochs, clf_epochs, top_epochs, width = _SIZES[ctx.size]
    net = dict(
        module__width=width,
        module__n_hidden=256 if width < 1 else 1024,
        verbose=0,
        random_state=ctx.random_state,
    )
    if ctx.net_callbacks():
        net["callbacks"] = ctx.net_callbacks()
    fast = width < 1  # short CPU runs: larger learning rates than the paper's
    ctx.step("simulating fields, cropping stamps")
    t0 = time.perf_counter()
    data = make_splus_stamps(
        ctx.out / "splus_pretraining",
        n_pool=n_pool,
        n_labelled=n_lab,
        random_state=ctx.random_state,
    )
    t_data = time.perf_counter() - t0
    pool, lab = data.pool, data.labelled
    ctx.log(
        f"pool {n_pool} objects (mean r {pool.catalog.r.mean():.2f}), labelled "
        f"{n_lab} (mean r {lab.catalog.r.mean():.2f}) in {t_data:.0f} s"
    )

    ctx.step("magnitude pretraining")
    t0 = time.perf_counter()
    pool_tr, pool_te = train_test_split(
        np.arange(n_pool), test_size=0.1, random_state=ctx.random_state
    )
    mags = pool.magnitudes.to_numpy()
    pre = MagnitudePretrainer(
        lr=1e-3 if fast else 1e-4,
        max_epochs=pre_epochs,
        batch_size=16 if fast else 128,
        **net,
    ).fit(pool.stamps[pool_tr], mags[pool_tr])
    mae_band = np.nanmean(np.abs(pre.predict(pool.stamps[pool_te]) - mags[pool_te]), 0)
    t_pre = time.perf_counter() - t0
    ctx.log(f"pretrained in {t_pre:.0f} s, MAE {np.nanmean(mae_band):.3f} mag")

    y = lab.target
    tr, te = train_test_split(
        np.arange(n_lab), test_size=0.3, stratify=y, random_state=ctx.random_state
    )
    clf_params = dict(
        lr=1e-3 if fast else 1e-4,
        finetune_lr=1e-4 if fast else 1e-5,
        warmup_epochs=top_epochs,
        max_epochs=clf_epochs,
        batch_size=16 if fast else 128,
        **net,
    )
    t0 = time.perf_counter()
    acc, recall = {}, {}
    models = {}
    for name, strategy, pretrained in (
        ("frozen", "head", True),
        ("fine-tuned", "two_phase", True),
        ("from scratch", "none", False),
    ):
        ctx.step(f"classifier: {name}")
        params = dict(clf_params)
        if not pretrained:
            params.pop("finetune_lr")
            # torchvision's VGG initialisation: with PyTorch's default, a
            # network from scratch often never leaves the chance loss
            clf = PretrainedStampClassifier(
                freeze=strategy, module__init="vgg", **params
            )
        else:
            clf = PretrainedStampClassifier.from_pretrainer(
                pre, freeze=strategy, **params
            )
        clf.fit(lab.stamps[tr], y[tr])
        pred = clf.predict(lab.stamps[te])
        acc[name] = float(np.mean(pred == y[te]))
        recall[name] = dict(
            zip(
                clf.classes_.tolist(),
                np.round(recall_score(y[te], pred, average=None), 3).tolist(),
            )
        )
        models[name] = clf
    ctx.step("random forest on magnitudes")
    mag_table = lab.magnitudes.to_numpy()
    rf = RandomForestClassifier(n_estimators=300, random_state=ctx.random_state)
    rf.fit(mag_table[tr], y[tr])
    rf_pred = rf.predict(mag_table[te])
    acc["RF on magnitudes"] = float(np.mean(rf_pred == y[te]))
    recall["RF on magnitudes"] = dict(
        zip(
            rf.classes_.tolist(),
            np.round(recall_score(y[te], rf_pred, average=None), 3).tolist(),
        )
    )
    t_clf = time.perf_counter() - t0

    ctx.step("FITS catalog -> class pipeline")
    # FITS catalog -> class: the cropper and calibrator of the data set, then
    # the fine-tuned classifier
    cropper = FITSCropper(data.images, size="fwhm", zero_point_keyword="ZP")
    calibrator = Calibrator(stretch="asinh", asinh_softening=1e-4)
    test_catalog = lab.catalog.iloc[te].reset_index(drop=True)
    cropper.fit(test_catalog)
    calibrator.fit(cropper.transform(test_catalog.iloc[:4]))
    pipe = make_pipeline(cropper, calibrator, models["fine-tuned"])
    pipe_pred = pipe.predict(test_catalog)
    same = bool(np.array_equal(pipe_pred, models["fine-tuned"].predict(lab.stamps[te])))
    paths = save_model_for_reload(
        ctx, "splus_finetuned_fits_to_class", pipe, test_catalog
    )

    rows = [
        "| model | accuracy | recall GALAXY / QSO / STAR |",
        "|---|---|---|",
    ]
    for name in ("frozen", "fine-tuned", "from scratch", "RF on magnitudes"):
        r = recall[name]
        rows.append(
            f"| {name} | {acc[name]:.3f} | "
            f"{r.get('GALAXY', 0):.2f} / {r.get('QSO', 0):.2f} / {r.get('STAR', 0):.2f} |"
        )
    summary = "\n".join(
        [
            f"Pool {n_pool} objects (mean r {pool.catalog.r.mean():.2f}), labelled "
            f"{n_lab} (mean r {lab.catalog.r.mean():.2f}); VGG16 width {width}, "
            f"{pre_epochs} pretraining epochs; test set {len(te)} objects.",
            "",
            f"Pretraining MAE (held-out pool, mag): {np.nanmean(mae_band):.3f} "
            f"(paper, 12 bands: 0.049)",
            "",
            *rows,
            "",
            "Paper (12 bands, full data): fine-tuned 0.937, frozen 0.686.",
            f"FITS pipeline predictions equal the stamps' predictions: {same}.",
        ]
    )
    return SectionResult(
        summary=summary,
        metrics={
            "pretraining_mae_mag": float(np.nanmean(mae_band)),
            "pretraining_mae_per_band": dict(
                zip(SPLUS_BANDS, np.round(mae_band, 4).tolist())
            ),
            "accuracy": acc,
            "recall": recall,
            "fits_pipeline_matches": same,
            "seconds": {
                "data": round(t_data, 1),
                "pretraining": round(t_pre, 1),
                "classifiers": round(t_clf, 1),
            },
        },
        models={"splus_finetuned_fits_to_class": paths},
        comparisons=[
            ("pretraining MAE, 12 bands (mag)", float(np.nanmean(mae_band)), 0.049),
            ("fine-tuned accuracy", acc["fine-tuned"], 0.9367),
            ("frozen accuracy", acc["frozen"], 0.6859),
            ("from-scratch accuracy", acc["from scratch"], None),
            ("RF on catalog magnitudes accuracy", acc["RF on magnitudes"], None),
        ],
    )
