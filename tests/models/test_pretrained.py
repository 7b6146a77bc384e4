import json

import numpy as np
import pytest

from skastro.models import list_pretrained, load_pretrained, model_card, save_pretrained
from skastro.models._pretrained import WEIGHTS_DIR, _upgraded_params
from skastro.nn import LSBGNet, MagnitudePretrainer

from ..training._toy import tiny_lsbgnet, toy_simulate


@pytest.fixture(scope="module")
def tiny_net():
    X, y = toy_simulate(32, 0)
    return tiny_lsbgnet(
        max_epochs=1, train_split=None, callbacks=None, random_state=0
    ).fit(X, y)


def test_round_trip_keeps_predictions(tiny_net, tmp_path):
    dest = save_pretrained(tiny_net, tmp_path / "m", card={"data": "toy"})
    card = model_card(dest)
    assert card["estimator"] == "LSBGNet" and card["data"] == "toy"
    assert card["weights"]["bytes"] == (dest / "weights.pt").stat().st_size
    loaded = load_pretrained(dest)
    X, _ = toy_simulate(16, 1)
    np.testing.assert_allclose(loaded.predict_proba(X), tiny_net.predict_proba(X))
    assert loaded.module__filters == [2, 2, 2] or tuple(loaded.module__filters) == (
        2,
        2,
        2,
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_storage(tiny_net, tmp_path, dtype):
    dest = save_pretrained(tiny_net, tmp_path / dtype, dtype=dtype)
    loaded = load_pretrained(dest)
    X, _ = toy_simulate(16, 1)
    np.testing.assert_allclose(
        loaded.predict_proba(X), tiny_net.predict_proba(X), atol=2e-2
    )
    assert model_card(dest)["weights"]["dtype"] == dtype


def test_regressor_fitted_attributes_are_restored(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 5, 32, 32)).astype(np.float32)
    y = rng.uniform(15, 20, size=(8, 5))
    y[0, 1] = np.nan
    net = MagnitudePretrainer(
        module__width=0.0625,
        module__n_hidden=8,
        max_epochs=1,
        train_split=None,
        random_state=0,
    ).fit(X, y)
    loaded = load_pretrained(save_pretrained(net, tmp_path / "p"))
    assert loaded.n_outputs_ == 5
    assert loaded.missing_fraction_ == pytest.approx(1 / 40)
    np.testing.assert_allclose(loaded.predict(X), net.predict(X), rtol=1e-5)


def test_bad_names_and_cards_are_refused(tiny_net, tmp_path):
    with pytest.raises(ValueError, match="No pretrained model 'nope'; shipped models"):
        load_pretrained("nope")
    dest = save_pretrained(tiny_net, tmp_path / "m")
    card = json.loads((dest / "card.json").read_text())
    (dest / "card.json").write_text(json.dumps({**card, "estimator": "Popen"}))
    with pytest.raises(ValueError, match="names estimator 'Popen'; only"):
        load_pretrained(dest)
    bad_params = {**card, "params": {**card["params"], "bogus": 1}}
    (dest / "card.json").write_text(json.dumps(bad_params))
    with pytest.raises(ValueError, match=r"sets \['bogus'\], which LSBGNet"):
        load_pretrained(dest)
    with pytest.raises(ValueError, match="save_pretrained stores"):
        save_pretrained(object(), tmp_path / "x")
    with pytest.raises(ValueError, match="is not fitted"):
        save_pretrained(tiny_lsbgnet(), tmp_path / "x")
    with pytest.raises(ValueError, match="dtype must be"):
        save_pretrained(tiny_net, tmp_path / "x", dtype="int8")


def test_cards_with_renamed_parameters_load_under_the_new_names():
    # softening s of asinh(x / s) became asinh_softening b of asinh(x / 2b)
    old = {"softening": 0.01, "l2_conv": 1.0}
    assert _upgraded_params(LSBGNet, old) == {"asinh_softening": 0.005, "l2_conv": 1.0}
    assert _upgraded_params(LSBGNet, {"softening": "deprecated"}) == {}
    assert _upgraded_params(MagnitudePretrainer, old) == old


def test_card_written_with_old_names_loads_without_warnings(tmp_path):
    X, y = toy_simulate(32, 0)
    net = tiny_lsbgnet(
        asinh_softening=0.5, max_epochs=1, train_split=None, callbacks=None
    ).fit(X, y)
    dest = save_pretrained(net, tmp_path / "m")
    card = json.loads((dest / "card.json").read_text())
    assert "softening" not in card["params"] and card["fitted"]["n_bands_"] == 3
    # the card as skastro 0.1 wrote it: softening s = 2 b, n_channels_
    params = {**card["params"], "softening": 1.0}
    del params["asinh_softening"]
    fitted = {"n_channels_": card["fitted"]["n_bands_"]}
    (dest / "card.json").write_text(
        json.dumps({**card, "params": params, "fitted": fitted})
    )
    loaded = load_pretrained(dest)  # warnings are errors in the tests
    assert loaded.asinh_softening == 0.5 and loaded.n_bands_ == 3
    np.testing.assert_allclose(
        loaded.predict_proba(X), net.predict_proba(X), rtol=1e-5, atol=1e-7
    )


def test_shipped_models_have_complete_cards_and_fit_the_size_budget():
    names = list_pretrained()
    assert "lsbgnet-des-sim" in names
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*/weights.pt"))
    assert total <= 60e6
    for name in names:
        card = model_card(name)
        for key in ("description", "recipe", "data", "budget", "versions", "metrics"):
            assert key in card, (name, key)
        assert card["budget"]["examples_presented"] > 0
        net = load_pretrained(name)
        assert net.initialized_


def test_shipped_lsbgnet_classifies_fresh_stamps():
    from skastro.datasets import make_lsbg_stamps

    X, y = make_lsbg_stamps(200, random_state=31337, return_X_y=True)
    acc = (load_pretrained("lsbgnet-des-sim").predict(X) == y).mean()
    assert acc >= 0.85  # card: >= 0.90 on 2,000 stamps; 200 leave +-0.04


def test_shipped_rcnn_classifies_fresh_sequences():
    from skastro.datasets import make_hits_sequences

    X, y = make_hits_sequences(10, n_epochs=22, return_X_y=True, random_state=31337)
    net = load_pretrained("sequence-rcnn-hits-sim")
    assert net.classes_.tolist() == list(range(7))
    # card: 0.938 [0.925, 0.951] on 1,400 sequences; 70 leave +-0.1
    assert (net.predict(X) == y).mean() >= 0.65


def test_shipped_pretrainer_predicts_magnitudes():
    net = load_pretrained("magnitude-pretrainer-splus-sim")
    assert net.n_bands_ == 12 and net.n_outputs_ == 12
    rng = np.random.default_rng(0)
    pred = net.predict(rng.normal(size=(4, 12, 32, 32)).astype(np.float32))
    assert pred.shape == (4, 12) and np.isfinite(pred).all()


def test_shipped_5band_pretrainer_predicts_the_broad_bands():
    net = load_pretrained("magnitude-pretrainer-splus-sim-5band")
    assert net.n_bands_ == 5 and net.n_outputs_ == 5
    rng = np.random.default_rng(0)
    pred = net.predict(rng.normal(size=(4, 5, 32, 32)).astype(np.float32))
    assert pred.shape == (4, 5) and np.isfinite(pred).all()
    # the 12-band card's comparison is this model's, at its budget
    card5 = model_card("magnitude-pretrainer-splus-sim-5band")
    other = model_card("magnitude-pretrainer-splus-sim")["five_band_comparison"]
    assert other["budget"] == card5["budget"]
    assert other["mae"] == card5["metrics"]["mae"]
