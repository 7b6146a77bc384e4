"""skastro's weights-only model format: round trips, allowlist, corrupt files."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skastro.exceptions import LightCurveWarning, ModelFileError, UnsafeLoadWarning
from skastro.models import is_model_file, load_model, read_model_info, save_model

from ._cases import demo_models

REPO = Path(__file__).resolve().parents[2]


def _toy():
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.where(X[:, 0] > 0, "star", "galaxy")
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


def _write_manifest(path, estimator_node, files=None):
    """A hand-made model file (as an attacker would write one)."""
    manifest = {
        "format": "skastro-model",
        "format_version": 1,
        "estimator": estimator_node,
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("skastro_model.json", json.dumps(manifest))
        for name, data in (files or {}).items():
            zf.writestr(name, data)
    return path


_RELOAD = textwrap.dedent(
    """
    import sys, warnings, joblib, numpy as np
    from skastro.exceptions import LightCurveWarning
    warnings.simplefilter("error")
    warnings.simplefilter("ignore", LightCurveWarning)  # documented NaN features
    from skastro.models import load_model
    from skastro.utils.estimator_checks import assert_outputs_equal
    for model_path, data_path in zip(sys.argv[1::2], sys.argv[2::2]):
        data = joblib.load(data_path)
        model = load_model(model_path)
        for method, expected in data["expected"].items():
            got = getattr(model, method)(data["X"])
            assert_outputs_equal(expected, got, what=f"{model_path} {method}")
        print("OK", model_path)
    """
)


def test_demo_models_round_trip_in_a_fresh_process(tmp_path):
    """The six kinds of model the demo saves give identical predictions (and
    probabilities) after loading in a fresh CPU process."""
    args = []
    for name, (model, X) in demo_models(tmp_path).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LightCurveWarning)
            expected = {"predict": model.predict(X)}
            if hasattr(model, "predict_proba"):
                expected["predict_proba"] = model.predict_proba(X)
        path = save_model(model, tmp_path / f"{name}.skastro")
        joblib.dump({"X": X, "expected": expected}, tmp_path / f"{name}.data")
        args += [str(path), str(tmp_path / f"{name}.data")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _RELOAD, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path.parent,  # not where the models were written
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("OK") == 6


def test_search_is_saved_as_its_best_estimator(tmp_path):
    """A fitted GridSearchCV is saved as best_estimator_, with best_params_
    recorded in the description."""
    from sklearn.model_selection import GridSearchCV

    model, X = _toy()
    y = model.predict(X)
    search = GridSearchCV(model, {"logisticregression__C": [0.1, 1.0]}, cv=2)
    path = save_model(search.fit(X, y), tmp_path / "s.skastro")
    loaded = load_model(path)
    assert type(loaded).__name__ == "Pipeline"
    np.testing.assert_array_equal(loaded.predict(X), search.predict(X))
    with zipfile.ZipFile(path) as zf:
        tree = json.loads(zf.read("skastro_model.json"))["estimator"]
    assert tree["saved_from"]["class"].endswith(":GridSearchCV")


def test_card_and_info(tmp_path):
    """The model card and the library versions are readable without loading."""
    model, _ = _toy()
    card = {"intended_use": "toy", "metrics": {"accuracy": 0.9}}
    path = save_model(model, tmp_path / "m.skastro", card=card)
    info = read_model_info(path)
    assert info["card"] == card
    assert info["estimator_class"] == "sklearn.pipeline:Pipeline"
    assert {"skastro", "numpy", "scikit-learn"} <= set(info["versions"])
    assert is_model_file(path) and not is_model_file(tmp_path / "nope")
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_model(model, tmp_path / "m2.skastro", card={"x": object()})
    with pytest.raises(TypeError, match="card must be a dict"):
        save_model(model, tmp_path / "m2.skastro", card=["x"])


def test_overwrite_is_refused_when_asked(tmp_path):
    """overwrite=False keeps an existing file."""
    model, _ = _toy()
    path = save_model(model, tmp_path / "m.skastro")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_model(model, path, overwrite=False)


def test_unsaveable_values_are_named(tmp_path):
    """A lambda (code) cannot go into the safe format; the error says where
    it is and suggests joblib."""
    X = np.zeros((4, 2))
    model = FunctionTransformer(lambda x: x).fit(X)
    with pytest.raises(ModelFileError, match="lambda.*joblib"):
        save_model(make_pipeline(model), tmp_path / "m.skastro")


def test_torch_module_outside_a_net_is_refused(tmp_path):
    """ImageEmbedder holds its backbone outside a skorch net: a clear refusal."""
    from skastro.nn import ImageEmbedder

    X = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    emb = ImageEmbedder("vgg16", batch_size=2).fit(X)
    with pytest.raises(ModelFileError, match="torch module .* outside a skorch"):
        save_model(emb, tmp_path / "e.skastro")


def test_numpy_function_transformer_round_trip(tmp_path):
    """Allowed numpy functions (ufuncs, reshape) survive, inside skops blobs."""
    X = np.random.default_rng(0).normal(size=(10, 2, 2))
    y = (X[:, 0, 0] > 0).astype(int)
    model = make_pipeline(
        FunctionTransformer(np.reshape, kw_args={"shape": (-1, 4)}),
        FunctionTransformer(np.tanh),
        LogisticRegression(),
    ).fit(X, y)
    loaded = load_model(save_model(model, tmp_path / "f.skastro"))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


# ------------------------------------------------------------ untrusted files
def _marker_node(marker):
    return {
        "$": "estimator",
        "class": "subprocess:Popen",
        "params": {"args": ["touch", str(marker)]},
        "attrs": {},
    }


@pytest.mark.parametrize(
    "node, message",
    [
        (
            lambda m: {
                "$": "estimator",
                "class": "subprocess:Popen",
                "params": {"args": ["touch", str(m)]},
                "attrs": {},
            },
            "subprocess:Popen is outside the allowlist",
        ),
        (
            lambda m: {
                "$": "estimator",
                "class": "sklearn.preprocessing._function_transformer:"
                "FunctionTransformer",
                "params": {"func": {"$": "function", "path": "os:system"}},
                "attrs": {},
            },
            "function os:system is not on the allowlist",
        ),
        (
            lambda m: {"$": "function", "path": "numpy:save"},
            "function numpy:save is not on the allowlist",
        ),
        (
            lambda m: {"$": "class", "path": "skastro.stamps._crop:os.system"},
            "is not a class",
        ),
        (
            lambda m: {"$": "class", "path": "skastro.stamps._crop:ThreadPoolExecutor"},
            "outside the allowlist",
        ),
        (
            lambda m: {
                "$": "object",
                "class": "skorch.callbacks.training:Checkpoint",
                "params": {"dirname": str(m)},
            },
            "writes files",
        ),
        (
            lambda m: {"$": "instance", "class": "skastro.cli:argparse.Namespace"},
            "outside the allowlist",
        ),
        (
            lambda m: {
                "$": "estimator",
                "class": "torch.nn.modules.linear:Linear",
                "params": {"in_features": 2, "out_features": 2},
                "attrs": {},
            },
            "is not a BaseEstimator",
        ),
    ],
    ids=[
        "popen",
        "os-system",
        "numpy-save",
        "function-as-class",
        "reexported",
        "checkpoint",
        "cli",
        "not-estimator",
    ],
)
def test_hostile_files_are_refused_before_anything_runs(tmp_path, node, message):
    """Classes and functions outside the allowlist are refused with a message
    naming them; nothing the file names is called."""
    marker = tmp_path / "pwned"
    path = _write_manifest(tmp_path / "evil.skastro", node(marker))
    with pytest.raises(ModelFileError, match=message):
        load_model(path)
    assert not marker.exists()


def test_refused_classes_are_checked_before_building(tmp_path):
    """One refused class anywhere stops the load before any object is built."""
    marker = tmp_path / "pwned"
    node = [
        {"$": "object", "class": "skorch.callbacks.training:Checkpoint",
         "params": {"dirname": str(marker)}},
        _marker_node(marker),
    ]  # fmt: skip
    path = _write_manifest(tmp_path / "evil.skastro", {"$": "tuple", "items": node})
    with pytest.raises(ModelFileError, match="Popen") as exc:
        load_model(path)
    assert "Checkpoint" in str(exc.value)
    assert not marker.exists()


def test_skops_blob_with_a_foreign_function_is_refused(tmp_path):
    """A scikit-learn estimator stored by skops is checked against the same
    allowlist (here FunctionTransformer(func=os.system))."""
    import skops.io

    blob = skops.io.dumps(FunctionTransformer(os.system))
    node = {"$": "skops", "class": "x", "file": "skops/000000.skops"}
    path = _write_manifest(
        tmp_path / "evil.skastro", node, {"skops/000000.skops": blob}
    )
    with pytest.raises(ModelFileError, match="system"):
        load_model(path)


def test_object_arrays_are_never_unpickled(tmp_path):
    """An .npy member holding a pickled object array is refused."""
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    node = {"$": "ndarray", "file": "arrays/000000.npy"}
    path = _write_manifest(
        tmp_path / "evil.skastro", node, {"arrays/000000.npy": buf.getvalue()}
    )
    with pytest.raises(ModelFileError, match="not a plain numeric array"):
        load_model(path)


def test_trusted_classes_can_be_allowed(tmp_path):
    """trusted= lets a file build classes outside the allowlist."""
    node = {"$": "class", "path": "collections:OrderedDict"}
    path = _write_manifest(tmp_path / "t.skastro", node)
    with pytest.raises(ModelFileError, match="trusted="):
        load_model(path)
    from collections import OrderedDict

    assert load_model(path, trusted=[OrderedDict]) is OrderedDict
    assert load_model(path, trusted=["collections:OrderedDict"]) is OrderedDict
    assert load_model(path, trusted=["collections.OrderedDict"]) is OrderedDict
    with pytest.raises(ValueError, match="'module:Name'"):
        load_model(path, trusted=["nope"])
    with pytest.raises(TypeError, match="give classes"):
        load_model(path, trusted=[3])


def test_pickles_need_trust_pickle(tmp_path):
    """A joblib file is refused by default, loaded with a warning when trusted."""
    model, X = _toy()
    joblib.dump(model, tmp_path / "m.joblib")
    with open(tmp_path / "m.pkl", "wb") as handle:
        pickle.dump(model, handle)
    for name in ("m.joblib", "m.pkl"):
        with pytest.raises(ModelFileError, match="pickle.*trust_pickle=True"):
            load_model(tmp_path / name)
        with pytest.warns(UnsafeLoadWarning, match="runs any code") as record:
            loaded = load_model(tmp_path / name, trust_pickle=True)
        assert record[0].filename == __file__  # points at the user's call
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a skastro model file"),
        (b"SIMPLE  =                    T", "not a skastro model file"),
        (b"PK\x03\x04garbage", "corrupt zip"),
        (b"\x80\x04\x95garbage", "pickle"),
    ],
    ids=["empty", "fits", "bad-zip", "pickle-header"],
)
def test_corrupt_and_foreign_files(tmp_path, content, message):
    """Corrupt or foreign files: ModelFileError naming the file."""
    path = tmp_path / "m.skastro"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as exc:
        load_model(path)
    assert "m.skastro" in str(exc.value)


def test_corrupt_pickle_with_trust_pickle(tmp_path):
    """A truncated joblib file with trust_pickle=True: ModelFileError, not a
    raw UnpicklingError/EOFError."""
    model, _ = _toy()
    joblib.dump(model, tmp_path / "m.joblib")
    data = (tmp_path / "m.joblib").read_bytes()
    (tmp_path / "m.joblib").write_bytes(data[: len(data) // 2])
    with pytest.warns(UnsafeLoadWarning):
        with pytest.raises(ModelFileError, match="not a loadable pickle"):
            load_model(tmp_path / "m.joblib", trust_pickle=True)


def test_damaged_model_files(tmp_path):
    """Truncated archives, missing members, bad JSON, future versions."""
    model, _ = _toy()
    good = save_model(model, tmp_path / "good.skastro").read_bytes()
    (tmp_path / "cut.skastro").write_bytes(good[: len(good) // 2])
    with pytest.raises(ModelFileError, match="corrupt"):
        load_model(tmp_path / "cut.skastro")
    with zipfile.ZipFile(tmp_path / "nomanifest.skastro", "w") as zf:
        zf.writestr("other.txt", "x")
    with pytest.raises(ModelFileError, match="not a skastro model file"):
        load_model(tmp_path / "nomanifest.skastro")
    with zipfile.ZipFile(tmp_path / "badjson.skastro", "w") as zf:
        zf.writestr("skastro_model.json", "{not json")
    with pytest.raises(ModelFileError, match="corrupt description"):
        load_model(tmp_path / "badjson.skastro")
    with zipfile.ZipFile(tmp_path / "future.skastro", "w") as zf:
        zf.writestr(
            "skastro_model.json",
            json.dumps({"format": "skastro-model", "format_version": 99}),
        )
    with pytest.raises(ModelFileError, match="Upgrade skastro"):
        load_model(tmp_path / "future.skastro")
    path = _write_manifest(
        tmp_path / "missing.skastro", {"$": "ndarray", "file": "arrays/1.npy"}
    )
    with pytest.raises(ModelFileError, match="missing"):
        load_model(path)
    path = _write_manifest(tmp_path / "odd.skastro", {"$": "frobnicate"})
    with pytest.raises(ModelFileError, match="unknown node type"):
        load_model(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "absent.skastro")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)


def test_values_of_every_kind_round_trip(tmp_path):
    """Tuples, sets, dicts with non-string keys, NaN, numpy scalars, object
    arrays, slices, DataFrames, RandomState and tensors survive."""
    import pandas as pd
    import torch

    from skastro.stamps import Calibrator

    value = {
        1: (float("nan"), float("inf"), np.float32(2.5), np.int64(3)),
        "set": {1, 2},
        None: slice(1, None, 2),
        "objects": np.array(["a", 1, None], dtype=object),
        "frame": pd.DataFrame({"field": ["a", "b"], "zp": [20.0, 21.0]}),
        "rs": np.random.RandomState(3),
        "tensor": torch.arange(4, dtype=torch.bfloat16),
        "dtype": np.dtype("float32"),
        "complex": 1 + 2j,
    }
    est = Calibrator(zero_point=value["frame"])
    est.extra_ = value
    loaded = load_model(save_model(est, tmp_path / "v.skastro"))
    got = loaded.extra_
    assert np.isnan(got[1][0]) and got[1][1] == np.inf
    assert type(got[1][2]) is np.float32 and got[1][3] == 3
    assert got["set"] == {1, 2} and got[None] == slice(1, None, 2)
    assert got["objects"].tolist() == ["a", 1, None]
    pd.testing.assert_frame_equal(got["frame"], value["frame"])
    pd.testing.assert_frame_equal(loaded.zero_point, value["frame"])
    assert got["rs"].randint(1000) == np.random.RandomState(3).randint(1000)
    assert torch.equal(got["tensor"], value["tensor"])
    assert got["dtype"] == np.float32 and got["complex"] == 1 + 2j


def test_gpu_net_loads_on_the_cpu_with_a_warning(tmp_path, monkeypatch):
    """A net saved with device='cuda' loads on a machine without a GPU, on
    the CPU, with a DeviceWarning pointing at the user's call."""
    import torch
    from skorch.exceptions import DeviceWarning

    from skastro.nn import LSBGNet

    net = LSBGNet(max_epochs=0, random_state=0).initialize()
    path = save_model(net, tmp_path / "n.skastro")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["skastro_model.json"])
    manifest["estimator"]["params"]["device"] = "cuda"
    members["skastro_model.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on the CPU") as record:
        loaded = load_model(path)
    assert record[0].filename == __file__
    assert loaded.device == "cpu"
    X = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    assert load_model(path, device="cpu").device == "cpu"
