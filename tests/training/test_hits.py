"""The HiTS RCNN recipes: streamed prepared sequences, resuming, the protocol."""

import dataclasses
from functools import partial

import numpy as np
import pytest
import torch

from skastro import recipes
from skastro.models import load_pretrained, model_card
from skastro.training import (
    carrasco_davis_rcnn,
    evaluate_sequence_rcnn,
    export_model,
    get_recipe,
    hits_shifted_domain,
    simulate_hits,
    train_recipe,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_rcnn_recipe():
    build = partial(
        carrasco_davis_rcnn,
        reduced=True,
        module__n_filters=4,
        module__n_hidden=8,
        module__n_lstm=8,
        batch_size=7,
    )
    return dataclasses.replace(
        get_recipe("sequence-rcnn-hits-reduced"),
        build=build,
        examples_per_pass=14,
        chunk_size=7,
        valid_size=14,
    )


def test_simulate_hits_gives_prepared_balanced_sequences():
    X, y = simulate_hits(14, 3)
    assert set(X) == {"stamps", "dt", "mask"}
    assert X["stamps"].shape == (14, 22, 21, 21) and X["stamps"].dtype == np.float32
    assert np.bincount(y).tolist() == [2] * 7
    np.testing.assert_array_equal(X["dt"][:, 0], 0.0)
    with pytest.raises(ValueError, match="n must be a multiple of 7; got 10"):
        simulate_hits(10, 0)


def test_the_recipes_are_the_paper_network_and_the_reduced_one():
    full, reduced = carrasco_davis_rcnn(), carrasco_davis_rcnn(reduced=True)
    assert full.batch_size == 256 and full.lr == 5e-4  # Table 3.3's training
    assert "module__n_filters" not in full.get_params()  # the module's 64
    assert reduced.module__n_filters == 16 and reduced.module__n_lstm == 128
    assert list(full.classes) == list(range(7))


def test_rcnn_recipe_trains_resumes_and_exports(tmp_path):
    recipe = _tiny_rcnn_recipe()
    out = tmp_path / "run"
    net = train_recipe(recipe, out, hours=1, max_passes=2, verbose=0)
    assert {"valid_acc", "valid_loss", "cpu_s"} <= set(net.history[-1])
    net = train_recipe(recipe, out, hours=1, max_passes=1, resume=True, verbose=0)
    assert len(net.history) == 3
    scheduler = dict(net.callbacks_)["lr_plateau"].lr_scheduler_
    assert scheduler.optimizer is net.optimizer_  # still bound after resuming
    dest = export_model(recipe, out, tmp_path / "model", evaluate=False)
    assert model_card(dest)["estimator"] == "SequenceRCNN"
    loaded = load_pretrained(dest)
    X, _ = recipes.hits_protocol_set(
        1, random_state=5
    )  # raw sequences, with the known background
    np.testing.assert_allclose(loaded.predict_proba(X), net.predict_proba(X), atol=1e-5)
    assert loaded.classes_.tolist() == list(range(7))


@pytest.mark.slow
def test_evaluate_sequence_rcnn_runs_the_protocol(tmp_path):
    recipe = _tiny_rcnn_recipe()
    train_recipe(recipe, tmp_path / "run", hours=1, max_passes=1, verbose=0)
    # as export_model measures it: the model loaded back, class defaults
    net = load_pretrained(
        export_model(recipe, tmp_path / "run", tmp_path / "model", evaluate=False)
    )
    out = evaluate_sequence_rcnn(
        net,
        test_per_class=2,
        forest_per_class=3,
        epochs=(3, 22),
        n_resamples=20,
        memory=tmp_path / "cache",
    )
    assert set(out["accuracy_by_epochs_seen"]) == {"rcnn", "forest"}
    assert set(out["accuracy_by_epochs_seen"]["forest"]) == {"3", "22"}
    assert set(out["rcnn"]["recall"]) == {"SN", "RRL", "CEP", "EB", "NV", "GAL", "AST"}
    assert -1 <= out["rcnn_minus_forest"]["value"] <= 1
    small = {
        "n_per_class": 3,
        "forest_per_class": 3,
        "n_trials": 1,
        "n_fine_tune": 1,
        "fine_tune_iterations": 2,
        "fine_tune_batch": 4,
    }
    shifted = hits_shifted_domain(net, **small)
    assert set(shifted["average_recall"]) == {
        "rcnn",
        "forest",
        "rcnn_fine_tuned",
        "forest_augmented",
    }
    # per-class recalls of the five real classes, whose mean is the trial's
    # average recall (one trial)
    recalls = shifted["class_recall"]
    assert set(recalls) == {*shifted["average_recall"], "in_domain"}
    assert set(recalls["in_domain"]) == {"rcnn", "forest"}
    for model, by_class in recalls.items():
        if model == "in_domain":
            continue
        assert list(by_class) == ["SN", "RRL", "EB", "NV", "AST"]
        assert np.mean(list(by_class.values())) == pytest.approx(
            shifted["average_recall"][model]["mean"], abs=1e-3
        )
    assert recalls["in_domain"]["rcnn"]["SN"] in (0.0, 0.5, 1.0)
    # replay_fraction=0: fine-tuning on the shifted sequences alone (the
    # paper's protocol)
    alone = hits_shifted_domain(net, **small, fine_tune_params={"replay_fraction": 0})
    assert alone["fine_tune"]["replay"] == "none"
    assert "without replay" in alone["protocol"]


@pytest.mark.parametrize("fraction", [1.0, -0.1, "half"])
def test_hits_shifted_domain_rejects_a_bad_replay_fraction(fraction):
    # checked before any sequence is simulated or the network is used
    with pytest.raises(
        ValueError, match=r"replay_fraction'\] must be a float in \[0, 1\)"
    ):
        hits_shifted_domain(None, fine_tune_params={"replay_fraction": fraction})


def test_default_valid_acc_is_the_accuracy_after_the_last_epoch():
    # the estimator's own valid_acc (skorch's cached validation outputs hold
    # the logits of every epoch) against predictions on the validation set
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    X_valid, y_valid = simulate_hits(21, 4)
    net = recipes.hits_rcnn(
        network="reduced",
        module__n_filters=4,
        module__n_hidden=8,
        module__n_lstm=8,
        asinh_softening=2.5,
        classes=list(range(7)),
        batch_size=7,
        max_epochs=2,
        train_split=predefined_split(Dataset(X_valid, y_valid)),
        random_state=0,
    )
    X, y = simulate_hits(28, 3)
    net.fit(Dataset(X, y), None)
    proba = net.predict_proba(Dataset(X_valid, None))
    expected = float(np.mean(proba.argmax(axis=1) == y_valid))
    assert net.history[-1, "valid_acc"] == pytest.approx(expected)


def test_hits_forest_calibration_measures_the_forest_on_a_split():
    """The simulator's calibration check: a stratified split, the paper's
    forest, accuracy and per-class recalls with intervals, the confusion
    matrix; simulator parameters reach make_hits_sequences."""
    from skastro.training import hits_forest_calibration

    out = hits_forest_calibration(
        3, n_resamples=20, random_state=1, stamp_size=15, pre_detection_epochs=None
    )
    assert (out["n_train"], out["n_test"]) == (14, 7)
    acc = out["accuracy"]
    assert 0.0 <= acc["low"] <= acc["value"] <= acc["high"] <= 1.0
    assert set(out["recall"]) == {"SN", "RRL", "CEP", "EB", "NV", "GAL", "AST"}
    confusion = np.asarray(out["confusion"])
    assert confusion.shape == (7, 7) and confusion.sum() == out["n_test"]
    assert np.isclose(np.trace(confusion) / out["n_test"], acc["value"], atol=1e-4)


def test_hits_shifted_domain_gap_and_recovered_fraction():
    """The gap is in-domain minus shifted average recall and the recovered
    fraction (after - before) / gap, per trial, with intervals over trials
    and over sequences; fine_tune_params reach fine_tune."""
    X, y = recipes.hits_protocol_set(1, random_state=3)
    net = recipes.hits_rcnn(
        network="small",
        module__n_filters=4,
        module__n_hidden=8,
        module__n_lstm=8,
        classes=list(range(7)),
        batch_size=7,
        max_epochs=1,
        train_split=None,
        random_state=0,
        verbose=0,
    ).fit(X, y)
    out = hits_shifted_domain(
        net,
        n_per_class=3,
        forest_per_class=1,
        n_trials=2,
        n_fine_tune=1,
        fine_tune_iterations=2,
        fine_tune_batch=4,
        fine_tune_params={"freeze": "cnn", "lr": 1e-4, "renorm_statistics": "keep"},
        n_resamples=50,
    )
    recall = out["average_recall"]
    assert set(recall) == {"rcnn", "forest", "rcnn_fine_tuned", "forest_augmented"}
    assert len(recall["rcnn_fine_tuned"]["trials"]) == 2
    assert out["fine_tune"]["freeze"] == "cnn" and "'freeze': 'cnn'" in out["protocol"]
    assert out["fine_tune"]["renorm_statistics"] == "keep"
    for model, after in (("rcnn", "rcnn_fine_tuned"), ("forest", "forest_augmented")):
        ci = out["in_domain"][model]
        assert 0.0 <= ci["low"] <= ci["value"] <= ci["high"] <= 1.0
        gap = out["gap"][model]
        assert gap["value"] == pytest.approx(
            ci["value"] - out["shifted"][model]["value"], abs=2e-4
        )
        assert gap["low"] <= gap["high"]
        for g, before, tuned, frac in zip(
            gap["trials"],
            recall[model]["trials"],
            recall[after]["trials"],
            out["recovered_fraction"][model]["trials"],
            strict=True,
        ):
            assert g == pytest.approx(ci["value"] - before, abs=2e-4)
            if g > 0:
                assert frac == pytest.approx((tuned - before) / g, rel=0.01, abs=1e-3)
    with pytest.raises(ValueError, match=r"fine_tune_params takes .*\['epochs'\]"):
        hits_shifted_domain(net, fine_tune_params={"epochs": 3})
    with pytest.raises(ValueError, match="n_fine_tune must be in"):
        hits_shifted_domain(net, n_per_class=3, n_fine_tune=3)
