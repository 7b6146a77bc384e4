import json

import numpy as np
import pytest

from skastro.cli import main
from skastro.models import load_pretrained, model_card
from skastro.training import (
    deepshadows_lsbgnet,
    export_model,
    get_recipe,
    martinazzo_pretrainer,
    simulate_ahead,
    train_recipe,
)

from ._toy import tiny_recipe, toy_simulate


def test_train_resume_and_export_round_trip(tmp_path):
    recipe = tiny_recipe()
    out = tmp_path / "run"
    net = train_recipe(recipe, out, hours=1, max_passes=2, verbose=0)
    assert len(net.history) == 2
    assert {"valid_loss", "valid_acc", "cpu_s", "n_examples"} <= set(net.history[-1])
    with pytest.raises(ValueError, match="already holds a training checkpoint"):
        train_recipe(recipe, out, hours=1, max_passes=1, verbose=0)
    net = train_recipe(recipe, out, hours=1, max_passes=1, resume=True, verbose=0)
    assert len(net.history) == 3
    settings = json.loads((out / "train.json").read_text())
    assert settings["recipe"] == "toy" and settings["resume"] is True

    dest = export_model(
        recipe, out, tmp_path / "model", evaluate=False, notes={"caveat": "toy"}
    )
    card = model_card(dest)
    assert card["caveat"] == "toy"
    assert card["budget"]["passes"] == 3
    assert card["budget"]["examples_presented"] == 3 * 64
    assert card["estimator"] == "LSBGNet" and card["recipe"]["name"] == "toy"
    assert card["params"]["module__image_size"] == 8
    assert "lr" not in card["params"]  # the loop's settings stay the class's
    loaded = load_pretrained(dest)
    X, _ = toy_simulate(20, 5)
    np.testing.assert_allclose(loaded.predict_proba(X), net.predict_proba(X), atol=1e-6)


def test_repeated_pools_are_cached_and_can_be_simulated_ahead(tmp_path):
    recipe = tiny_recipe(repeats=2)
    out = tmp_path / "run"
    assert simulate_ahead(recipe, out, ahead=0, max_pools=1) == 2
    train_recipe(recipe, out, hours=1, max_passes=2, verbose=0)
    assert len(list((out / "pool").glob("pool0000000-chunk*.npz"))) == 2
    with pytest.raises(ValueError, match="no pool to simulate ahead"):
        simulate_ahead(tiny_recipe(), out)


def test_recipes_are_unfitted_estimators_with_the_papers_settings():
    net = deepshadows_lsbgnet()
    assert not getattr(net, "initialized_", False)
    assert net.batch_size == 64 and net.lr == 1e-3
    pre = martinazzo_pretrainer(width=0.125)
    assert pre.module__width == 0.125 and pre.module__n_hidden == 1024
    assert get_recipe("splus-pretrain-5").model_name.endswith("5band")
    with pytest.raises(ValueError, match="Unknown recipe 'nope'; choose one of"):
        get_recipe("nope")


def test_cli_train(capsys, tmp_path):
    assert main(["train", "list"]) == 0
    assert "lsbgnet-des-sim" in capsys.readouterr().out
    assert main(["train", "nope", "--out", str(tmp_path), "--hours", "1"]) == 2
    assert "Unknown recipe 'nope'" in capsys.readouterr().err
    assert main(["train", "deepshadows", "--out", str(tmp_path)]) == 2
    assert "--hours must be a number > 0" in capsys.readouterr().err


def test_export_needs_a_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="holds no training checkpoint"):
        export_model(tiny_recipe(), tmp_path, tmp_path / "m", evaluate=False)
