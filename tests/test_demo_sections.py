"""The demo's sections end to end at tiny sizes, with the shipped models.

Each test shrinks the section's ``"small"`` settings (``monkeypatch``) so
that it runs in seconds, and checks that the shipped model is the one
measured, that the verdict names it, and that the saved models reload.
"""

from __future__ import annotations

import dataclasses

import pytest

from skastro._demo import DemoContext, reload_check
from skastro.models import list_pretrained


def _needs(name: str) -> None:
    if name not in list_pretrained():
        pytest.skip(f"{name!r} is not shipped in this installation")


#: Settings that make a section's "small" size run in seconds.
_HITS_TINY = dict(
    n_per_class=3,
    n_test_per_class=2,
    n_real_per_class=2,
    n_fine_tune=1,
    fine_tune_iterations=2,
    max_epochs=1,
    epochs=(3, 22),
)
_TRANSFER_TINY = dict(n_pool=24, n_labelled=24, epochs=2, warmup_epochs=1, backbones=())


def _run_tiny(section, tmp_path, monkeypatch, *, shipped=True, verbose=0, **sizes):
    """Run ``section`` at its "small" size changed by ``sizes``: with its
    shipped model (the test is skipped where that is not installed) or, with
    ``shipped=False``, as if no model were shipped."""
    if shipped:
        _needs(section.SECTION.shipped)
    small = dict(section.SECTION.settings("small"), **sizes)
    monkeypatch.setattr(
        section,
        "SECTION",
        dataclasses.replace(
            section.SECTION,
            shipped=section.SECTION.shipped if shipped else "no-such-model",
            sizes={**section.SECTION.sizes, "small": small},
        ),
    )
    return section.run(DemoContext(out=tmp_path, size="small", verbose=verbose))


def test_hits_section_tiny_with_the_shipped_rcnn(tmp_path, monkeypatch):
    """The shipped RCNN is measured beside the forest, on the same test
    sequences, and in the shifted domain; the verdict gives the paired
    difference and the card's figures."""
    from skastro._demo import hits

    res = _run_tiny(hits, tmp_path, monkeypatch, **_HITS_TINY)
    m = res.metrics
    assert m["rcnn"] == "RCNN (shipped)"
    assert m["n_test"] == 14
    for model in ("rcnn", "forest"):
        assert 0.0 <= m["test"][model]["accuracy"]["value"] <= 1.0
        assert len(m["test"][model]["recall"]) == 7
        assert set(m["test"]["accuracy_by_epochs_seen"][model]) == {"3", "22"}
    assert set(m["shifted"]["average_recall"]) == {
        "rcnn",
        "forest",
        "rcnn_fine_tuned",
        "forest_augmented",
    }
    assert set(m["cv_accuracy"]) == {"SequenceRCNN", "LightCurve+FATS+RF"}
    verdict = res.summary.splitlines()[-1]
    assert verdict.startswith("**Verdict:**")
    assert "RCNN (shipped)" in verdict and "paired difference" in verdict
    assert "the model card, on make_hits_sequences(" in verdict
    assert (tmp_path / "hits_comparison.png").is_file()
    assert set(res.models) == {"hits_rcnn", "hits_live_best"}
    assert reload_check(tmp_path, *res.models["hits_rcnn"])


def test_splus_section_tiny_with_the_shipped_pretrainer(tmp_path, monkeypatch):
    """The shipped pretrainer is measured beside the live one on the same
    held-out stamps, the classifiers start from it, the FITS pipeline
    matches the stamps' predictions and reloads."""
    from skastro._demo import splus

    res = _run_tiny(
        splus,
        tmp_path,
        monkeypatch,
        n_pool=40,
        n_labelled=40,
        pretrain_epochs=1,
        classifier_epochs=2,
        warmup_epochs=1,
        n_per_field=120,
        field_shape=(256, 256),
    )
    m = res.metrics
    assert m["pretrainer"] == "shipped"
    assert set(m["pretraining_mae_mag"]) == {"live", "shipped"}
    for ci in m["pretraining_mae_mag"].values():
        assert 0.0 < ci["low"] <= ci["value"] <= ci["high"]
    assert set(m["accuracy"]) == {
        "frozen (shipped pretrainer)",
        "fine-tuned (shipped pretrainer)",
        "from scratch",
        "RF on magnitudes",
    }
    assert m["fits_pipeline_matches"] and m["fits_pipeline_objects"] > 0
    assert "the shipped model's card: " in res.summary
    verdict = res.summary.splitlines()[-1]
    assert verdict.startswith("**Verdict:**") and "Martinazzo et al. (2021)" in verdict
    assert reload_check(tmp_path, *res.models["splus_finetuned_fits_to_class"])


@pytest.mark.slow
def test_lsbg_section_tiny_with_the_shipped_cnn(tmp_path, monkeypatch):
    """The shipped CNN beside the SVM and forest on the same test stamps; the
    verdict names it and quotes the card's HSC-like transfer."""
    from skastro._demo import lsbg

    res = _run_tiny(
        lsbg,
        tmp_path,
        monkeypatch,
        n_baseline=40,
        n_live=40,
        n_test=60,
        n_hsc_test=40,
        epochs=1,
    )
    m = res.metrics
    assert m["cnn"] == "CNN (shipped)"
    assert set(m["test"]) == {"CNN", "SVM", "RF"}
    assert set(m["live_cv_accuracy"]) == {"CNN", "SVM", "RF"}
    assert m["transfer"]["after"] is None and m["transfer"]["model_card"]
    verdict = res.summary.splitlines()[-1]
    assert verdict.startswith("**Verdict:**") and "CNN (shipped)" in verdict
    assert "the model card's" in verdict
    assert {"lsbg_roc.png"} <= set(res.figures)


# a bootstrap resample of 8 tiny test stamps may lack a class
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning")
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
def test_transfer_section_tiny(tmp_path, monkeypatch):
    """One grid search (VGG16 from scratch and from the shipped pretrainer's
    weights, frozen and fine-tuned), the best of each start on held-out
    stamps, the similarity search against its chance level, the anomaly
    ranking."""
    from skastro._demo import transfer

    res = _run_tiny(transfer, tmp_path, monkeypatch, **_TRANSFER_TINY)
    m = res.metrics
    assert m["pretrained_weights"] == "shipped"
    assert set(m["grid_cv_balanced_accuracy"]) == {
        "vgg16 (0.25 width) / scratch",
        "vgg16 (0.25 width) / ours, frozen",
        "vgg16 (0.25 width) / ours, fine-tuned",
    }
    assert len(m["test_balanced_accuracy"]) == 2
    ours = "VGG16 (0.25 width), our pretrained weights (shipped)"
    assert 0.0 <= m["qso_precision_at_10"][ours] <= 1.0
    assert 0.0 <= m["anomaly_roc_auc"] <= 1.0
    assert res.summary.count("**Verdict:**") == 2
    assert reload_check(tmp_path, *res.models["transfer_best_classifier"])


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning")
@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
def test_transfer_section_tiny_without_the_shipped_pretrainer(tmp_path, monkeypatch):
    """Where the pretrainer is not shipped, a short live pretraining of the
    same quarter-width VGG16 gives "our" weights, and the section says so."""
    from skastro._demo import transfer

    res = _run_tiny(
        transfer,
        tmp_path,
        monkeypatch,
        shipped=False,
        pretrain_epochs=2,
        **_TRANSFER_TINY,
    )
    m = res.metrics
    assert m["pretrained_weights"] == "live (2 epochs on 24 stamps)"
    assert "vgg16 (0.25 width) / ours, fine-tuned" in m["grid_cv_balanced_accuracy"]
    assert "our pretrained weights (live" in "".join(m["qso_precision_at_10"])
    assert "magnitude pretrainer, live (2 epochs on 24 stamps)" in res.summary


def test_hits_section_tiny_without_the_shipped_rcnn(tmp_path, monkeypatch, capsys):
    """Where the RCNN is not shipped the section says so in one line and
    measures an RCNN trained live instead."""
    from skastro._demo import hits

    res = _run_tiny(hits, tmp_path, monkeypatch, shipped=False, verbose=1, **_HITS_TINY)
    assert "'no-such-model' is not in this installation" in capsys.readouterr().out
    assert res.metrics["rcnn"] == "RCNN (live)"
    assert "`no-such-model` is not shipped in this installation" in res.summary
    verdict = res.summary.splitlines()[-1]
    assert "RCNN (live)" in verdict and "model card" not in verdict
