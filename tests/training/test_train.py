import dataclasses
import json
from functools import partial

import numpy as np
import pytest

from skastro.cli import main
from skastro.models import load_pretrained, model_card
from skastro.training import (
    deepshadows_lsbgnet,
    export_model,
    get_recipe,
    make_stream,
    martinazzo_pretrainer,
    simulate_ahead,
    train_recipe,
)
from skastro.training._stream import read_arrays

from ._toy import tiny_lsbgnet, tiny_recipe, toy_simulate


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


def test_paper_pool_recipes_warm_start_on_the_all_band_selection(tmp_path):
    """splus-pretrain-{12,5}-paper-pool: the pool of Martinazzo et al. (2021,
    every band's error < 0.05 mag), one cache for both, apart from the
    r-cut pool's; both shipped pretrainers continue on it."""
    recipes = {b: get_recipe(f"splus-pretrain-{b}-paper-pool") for b in ("12", "5")}
    assert {r.cache for r in recipes.values()} == {"splus-pool-all"}
    assert get_recipe("splus-pretrain-12").cache == "splus-pool"
    assert recipes["5"].model_name == "magnitude-pretrainer-splus-sim-5band-paper-pool"
    for bands, recipe in recipes.items():
        assert recipe.evaluate.keywords == {
            "bands": bands,
            "classification": True,
            "pool_cut": "all",
        }
    shipped = {
        "12": "magnitude-pretrainer-splus-sim",
        "5": "magnitude-pretrainer-splus-sim-5band",
    }
    for bands, recipe in recipes.items():
        # the recipe's own simulator (its cut kept) on small fields
        small = dataclasses.replace(
            recipe,
            simulate=partial(recipe.simulate, n_per_field=120, field_shape=(256, 256)),
            examples_per_pass=6,
            chunk_size=6,
            repeats=2,
            valid_size=6,
            num_workers=0,
        )
        out = tmp_path / f"pp{bands}"
        net = train_recipe(
            small,
            out,
            hours=1,
            max_passes=1,
            init=shipped[bands],
            lr=1e-4,
            lr_floor=1e-5,
            verbose=0,
        )
        assert len(net.history) == 1
        assert json.loads((out / "init.json").read_text())["init"] == shipped[bands]
    cache = tmp_path / "cache-splus-pool-all"
    assert make_stream(small, tmp_path / "pp5").cache_dir == cache
    X, y = read_arrays(cache / "pool0000000-chunk00000.npz")
    assert X.shape == (6, 12, 32, 32) and np.isfinite(y).all()
    assert np.isfinite(read_arrays(cache / "valid.npz")[1]).all()
    assert {p.name for p in cache.glob("consumer-*.json")} == {
        "consumer-splus-pretrain-12-paper-pool.json",
        "consumer-splus-pretrain-5-paper-pool.json",
    }


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


def test_init_carries_the_weights_and_adds_up_the_budget(tmp_path):
    recipe = tiny_recipe()
    first = tmp_path / "first"
    train_recipe(recipe, first, hours=1, max_passes=2, verbose=0)
    start = export_model(recipe, first, tmp_path / "start", evaluate=False)
    started = load_pretrained(start)

    out = tmp_path / "cont"
    net = train_recipe(recipe, out, hours=1, max_passes=1, init=start, verbose=0)
    # a fresh optimizer, the weights of the model it starts from: the first
    # batch of the continuation moves away from them, not from a new draw
    trained = net.module_.state_dict()
    fresh = tiny_recipe().build().initialize().module_.state_dict()
    kernel = next(k for k in trained if k.endswith("weight"))
    start_kernel = started.module_.state_dict()[kernel]
    assert float((trained[kernel] - start_kernel).abs().max()) < float(
        (fresh[kernel] - start_kernel).abs().max()
    )
    assert len(net.history) == 1  # the continuation's own history
    card = model_card(export_model(recipe, out, tmp_path / "model", evaluate=False))
    first_budget = model_card(start)["budget"]
    assert card["budget"]["passes"] == 3
    assert card["budget"]["examples_presented"] == 3 * 64
    assert card["budget"]["cpu_hours"] == pytest.approx(
        first_budget["cpu_hours"] + net.history[0, "cpu_s"] / 3600, abs=2e-3
    )
    assert card["init_from"]["init"] == str(start)
    assert card["init_from"]["budget"]["passes"] == 2
    assert "--init" in card["recipe"]["command"]

    # resuming keeps the record; a model of another network is refused
    train_recipe(recipe, out, hours=1, max_passes=1, resume=True, verbose=0)
    card = model_card(export_model(recipe, out, tmp_path / "model", evaluate=False))
    assert card["budget"]["passes"] == 4
    other = tiny_recipe(build=partial(tiny_lsbgnet, module__n_hidden=6))
    with pytest.raises(ValueError, match="has another network than the recipe's"):
        train_recipe(other, tmp_path / "other", hours=1, max_passes=1, init=start)
    with pytest.raises(ValueError, match="No pretrained model 'nope'"):
        train_recipe(recipe, tmp_path / "nope", hours=1, max_passes=1, init="nope")


def test_lr_floor_anneals_along_a_cosine_over_the_passes(tmp_path):
    recipe = tiny_recipe()
    net = train_recipe(
        recipe,
        tmp_path / "run",
        hours=1,
        max_passes=4,
        lr=1e-3,
        lr_floor=1e-5,
        verbose=0,
    )
    lrs = net.history[:, "event_lr"]
    # the lr of each pass's last batch: (1 + cos(pi k / 4)) / 2 for k = 0..3
    expected = [
        1e-5 + (1e-3 - 1e-5) * (1 + np.cos(np.pi * k / 4)) / 2 for k in range(4)
    ]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    assert lrs[-1] < 1e-3 / 5
    names = dict(net.callbacks_)
    assert "lr_plateau" not in names and "lr_anneal" in names
    card = model_card(
        export_model(recipe, tmp_path / "run", tmp_path / "model", evaluate=False)
    )
    assert "cosine from 0.001 to 1e-05 over 4 passes" in card["recipe"]["lr_schedule"]
    assert card["budget"]["final_lr"] == pytest.approx(expected[-1])
    # over hours: the pass that ends the budget keeps its learning rate
    net = train_recipe(
        recipe, tmp_path / "hours", hours=1e-9, lr=1e-3, lr_floor=1e-5, verbose=0
    )
    assert len(net.history) == 1 and net.history[-1, "event_lr"] == 1e-5


def test_cosine_annealing_over_hours_and_bad_budgets():
    from skastro.training import CosineAnnealing

    anneal = CosineAnnealing(1e-3, 1e-5, hours=1.0).initialize()
    net = tiny_recipe().build().initialize()
    anneal.on_train_begin(net)
    assert anneal.lr(net) == pytest.approx(1e-3, rel=1e-4)
    anneal._start -= 1800.0  # half the hour spent
    assert anneal.lr(net) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-4)
    anneal._start -= 3600.0
    assert anneal.lr(net) == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="needs a budget"):
        CosineAnnealing(1e-3, 1e-5).initialize()
    with pytest.raises(ValueError, match="lr_min must be a number in"):
        CosineAnnealing(1e-3, 1e-2, passes=3).initialize()


def test_load_params_keeps_the_optimizer_the_lr_scheduler_holds(tmp_path):
    net = train_recipe(
        tiny_recipe(), tmp_path / "run", hours=1, max_passes=1, verbose=0
    )
    optimizer, module = net.optimizer_, net.module_
    net.save_params(f_params=tmp_path / "p.pt", f_optimizer=tmp_path / "o.pt")
    net.load_params(f_params=tmp_path / "p.pt", f_optimizer=tmp_path / "o.pt")
    assert net.optimizer_ is optimizer and net.module_ is module
    assert dict(net.callbacks_)["lr_plateau"].lr_scheduler_.optimizer is optimizer
