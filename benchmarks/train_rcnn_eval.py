"""Evaluate a SequenceRCNN trained by ``train_rcnn.py`` on the paper's protocol.

Run::

    PYTHONPATH=. nice -n 5 python benchmarks/train_rcnn_eval.py --run DIR \\
        [--weights best] [--n-test 300] [--n-real 110] [--trials 3] \\
        [--export]                      # write skastro/models/weights/...

On fresh test sequences (``random_state`` disjoint from the training chunks
and the validation set), as Carrasco-Davis et al. (2019) evaluate:

- test accuracy after 22 epochs and per-class recall, RCNN and the
  light-curve forest (``skastro.recipes.hits_forest``, trained on
  ``--n-forest`` fresh sequences per class, photometry with the known sky
  and host), with 95% bootstrap intervals over the test sequences;
- accuracy against the number of observation epochs seen, the same test
  objects for both models (:func:`skastro.metrics.accuracy_by_epochs_seen`,
  their Fig. 4.1), and the paired bootstrap interval of the difference
  RCNN - forest at each count;
- the shifted domain (``domain="real"``), over the paper's five real
  classes: average recall of both models, of the RCNN fine-tuned on 10
  sequences per class (``fine_tune`` with replay of simulated sequences) and
  of the forest trained with those 10 per class copied 100 times, over
  ``--trials`` draws of the 10 per class.

``--export`` writes the weights (state dict, float32) and a model card
(JSON) to ``skastro/models/weights/sequence-rcnn-hits-sim.{pt,json}``.
Results go to ``DIR/eval_<weights>.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_rcnn import TEST_SEED, make_net  # noqa: E402

from skastro._demo.hits import (  # noqa: E402
    REAL_CLASSES,
    _named_recalls,
    _quiet_nan_features,
    average_recall,
    simulate_protocol,
)
from skastro.datasets import HITS_CLASSES  # noqa: E402
from skastro.metrics import (  # noqa: E402
    accuracy_by_epochs_seen,
    bootstrap_ci,
    predict_by_epochs_seen,
)
from skastro.recipes import hits_forest  # noqa: E402

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "skastro" / "models" / "weights"
NAME = "sequence-rcnn-hits-sim"


def load_trained(run: Path, weights: str):
    state = json.loads((run / "state.json").read_text())
    cfg = state["config"]
    net = make_net(cfg["net"], lr=cfg["lr"], batch_size=cfg["batch_size"], seed=0)
    net.set_params(classes=list(range(len(HITS_CLASSES))))
    net.initialize()
    f = run / ("best_params.pt" if weights == "best" else "last_params.pt")
    net.module_.load_state_dict(torch.load(f, weights_only=True))
    return net, state


def ci_dict(ci: dict) -> dict:
    return {k: round(float(ci[k]), 4) for k in ("value", "low", "high")}


def paired_difference(y, pred_a, pred_b, seed: int) -> dict:
    """Bootstrap interval of accuracy(a) - accuracy(b) on the same objects."""

    def diff(yt, both):
        return float(np.mean(both[:, 0] == yt) - np.mean(both[:, 1] == yt))

    return ci_dict(
        bootstrap_ci(diff, y, np.stack([pred_a, pred_b], axis=1), random_state=seed)
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--weights", choices=("best", "last"), default="best")
    ap.add_argument("--n-test", type=int, default=300, help="per class")
    ap.add_argument("--n-forest", type=int, default=1000, help="per class")
    ap.add_argument("--n-real", type=int, default=110, help="per real class")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--fine-tune-iterations", type=int, default=1000)
    ap.add_argument("--fine-tune-batch", type=int, default=32)
    ap.add_argument("--skip-shifted", action="store_true")
    ap.add_argument("--export", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t_start = time.process_time()
    net, state = load_trained(args.run, args.weights)
    result: dict = {
        "run": str(args.run),
        "weights": args.weights,
        "training": {
            k: state[k]
            for k in ("chunk", "presentations", "optimizer_steps", "cpu_seconds")
        },
        "best_validation": state.get("best"),
    }
    print(json.dumps(result), flush=True)

    # ---- simulated test set, 22 epochs; forest trained on fresh sequences
    X_test, y_test = simulate_protocol(args.n_test, random_state=TEST_SEED)
    X_rf, y_rf = simulate_protocol(args.n_forest, random_state=TEST_SEED + 1)
    with _quiet_nan_features():
        forest = hits_forest(random_state=TEST_SEED).fit(X_rf, y_rf)
        pred = {"RCNN": net.predict(X_test), "RF": forest.predict(X_test)}
        by_k = {
            "RCNN": predict_by_epochs_seen(net, X_test),
            "RF": predict_by_epochs_seen(forest, X_test),
        }
    seed = 0
    result["test"] = {
        "n_test": len(y_test),
        "n_forest_train": len(y_rf),
        **{
            name: {
                "accuracy": ci_dict(
                    bootstrap_ci(
                        lambda a, b: float(np.mean(a == b)),
                        y_test,
                        p,
                        random_state=seed,
                    )
                ),
                "recall": {
                    c: ci_dict(v)
                    for c, v in _named_recalls(y_test, p, random_state=seed).items()
                },
            }
            for name, p in pred.items()
        },
        "rcnn_minus_rf": paired_difference(y_test, pred["RCNN"], pred["RF"], seed),
    }
    curves = {}
    for name, model in (("RCNN", net), ("RF", forest)):
        with _quiet_nan_features():
            table = accuracy_by_epochs_seen(model, X_test, y_test, random_state=seed)
        curves[name] = {
            int(k): {c: round(float(r[c]), 4) for c in ("accuracy", "low", "high")}
            for k, r in table.iterrows()
        }
    diffs = {}
    for k in by_k["RCNN"]:
        a, b = by_k["RCNN"][k], by_k["RF"][k]
        if a is not None and b is not None:
            diffs[int(k)] = paired_difference(y_test, a, b, seed)
    result["accuracy_by_epochs_seen"] = curves
    result["rcnn_minus_rf_by_epochs_seen"] = diffs
    print(json.dumps(result["test"]), flush=True)
    print(json.dumps(diffs), flush=True)

    # ---- shifted domain, the paper's five real classes
    if not args.skip_shifted:
        import copy

        Xr, yr = simulate_protocol(
            dict.fromkeys(REAL_CLASSES, args.n_real),
            domain="real",
            random_state=TEST_SEED + 2,
        )
        with _quiet_nan_features():
            feats = forest[:-1]
            F_rf, F_real = feats.transform(X_rf), feats.transform(Xr)
        p0 = {"RCNN": net.predict(Xr), "RF": forest[-1].predict(F_real)}
        real_labels = [HITS_CLASSES.index(c) for c in REAL_CLASSES]
        trials: dict[str, list] = {
            k: [] for k in ("RCNN", "RF", "RCNN fine-tuned", "RF augmented")
        }
        per_class: dict[str, list] = {k: [] for k in trials}
        for trial in range(args.trials):
            rng = np.random.default_rng(trial)
            ft = np.concatenate(
                [
                    rng.choice(np.flatnonzero(yr == c), 10, replace=False)
                    for c in real_labels
                ]
            )
            rest = np.setdiff1d(np.arange(len(yr)), ft)
            tuned = copy.deepcopy(net)
            tuned.set_params(batch_size=args.fine_tune_batch, random_state=trial)
            t0 = time.process_time()
            tuned.fine_tune(
                Xr[ft],
                yr[ft],
                n_iterations=args.fine_tune_iterations,
                replay=(X_rf, y_rf),
            )
            t_ft = time.process_time() - t0
            F_aug = np.vstack([F_rf, np.repeat(F_real[ft], 100, 0)])
            y_aug = np.concatenate([y_rf, np.repeat(yr[ft], 100)])
            from sklearn.base import clone

            rf_aug = clone(forest[-1]).fit(F_aug, y_aug)
            preds = {
                "RCNN": p0["RCNN"][rest],
                "RF": p0["RF"][rest],
                "RCNN fine-tuned": tuned.predict(Xr[rest]),
                "RF augmented": rf_aug.predict(F_real[rest]),
            }
            for k, p in preds.items():
                trials[k].append(average_recall(yr[rest], p))
                per_class[k].append(
                    {
                        HITS_CLASSES[c]: float(np.mean(p[yr[rest] == c] == c))
                        for c in real_labels
                    }
                )
            print(
                f"trial {trial}: { {k: round(v[-1], 3) for k, v in trials.items()} }"
                f" (fine-tuning {t_ft / 60:.1f} CPU min)",
                flush=True,
            )
        result["shifted"] = {
            "n_per_class": args.n_real,
            "fine_tune_iterations": args.fine_tune_iterations,
            "fine_tune_batch": args.fine_tune_batch,
            "average_recall": {
                k: {
                    "mean": round(float(np.mean(v)), 4),
                    "sd": round(float(np.std(v)), 4),
                    "trials": [round(x, 4) for x in v],
                }
                for k, v in trials.items()
            },
            "recall_per_class_trial0": per_class_first(per_class),
        }
    result["eval_cpu_seconds"] = time.process_time() - t_start
    out = args.run / f"eval_{args.weights}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}", flush=True)
    if args.export:
        export(net, state, result)
    return 0


def per_class_first(per_class: dict) -> dict:
    return {k: {c: round(x, 3) for c, x in v[0].items()} for k, v in per_class.items()}


def export(net, state: dict, result: dict) -> None:
    """Weights (float32 state dict) and model card for ``load_pretrained``."""
    import sklearn
    import skorch

    import skastro

    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    sd = {
        k: v.detach().to(torch.float32).clone()
        for k, v in net.module_.state_dict().items()
    }
    f_weights = WEIGHTS_DIR / f"{NAME}.pt"
    torch.save(sd, f_weights)
    digest = hashlib.sha256(f_weights.read_bytes()).hexdigest()
    cfg = state["config"]
    params = {f"module__{k}": v for k, v in cfg["module"].items()}
    params.update(
        {
            "module__n_classes": 7,
            "module__n_window": 3,
            "module__stamp_size": 21,
            "preprocessing": "reference",
            "asinh_softening": cfg["asinh_softening"],
            "classes": list(range(7)),
        }
    )
    card = {
        "name": NAME,
        "estimator": "skastro.nn.SequenceRCNN",
        "paper": "Carrasco-Davis et al. (2019), Table 3.3 network"
        + (" (reduced: see params)" if cfg["net"] == "reduced" else ""),
        "params": params,
        "load": (
            "est = SequenceRCNN(**params); est.initialize(); "
            "est.module_.load_state_dict(torch.load(weights, weights_only=True))"
        ),
        "fitted_attributes": {
            "classes_": "from the 'classes' param: [0..6], the order of "
            "skastro.datasets.HITS_CLASSES",
            "module_": "SequenceRCNNModule with the state dict (parameters and "
            "batch-renormalisation moving averages)",
            "initialized_": True,
        },
        "classes": list(HITS_CLASSES),
        "weights": {
            "file": f_weights.name,
            "format": "torch state dict, torch.load(weights_only=True)",
            "dtype": "float32",
            "sha256": digest,
            "bytes": f_weights.stat().st_size,
        },
        "input": (
            "SliceDict of make_hits_sequences: stamps (n, T, 21, 21) ADU with "
            "the sky, mjd (n, T) days, mask (n, T), sky (n, T) ADU/pixel, "
            "zero_point (n, T) mag"
        ),
        "data": {
            "simulator": "skastro.datasets.make_hits_sequences(n_per_class="
            f"{cfg['chunk_per_class']}, n_epochs={cfg['n_epochs']}, "
            "random_state=chunk_seed + k) for chunk k = 0, 1, ...; defaults "
            "pre_detection_epochs=5, eclipse_min_epochs=2, domain='simulated'",
            "chunk_seed": cfg["chunk_seed"],
            "chunks": state["chunk"],
            "validation": f"{cfg['val_per_class']} per class, random_state="
            f"{cfg['val_seed']} (weights chosen by validation accuracy)",
        },
        "recipe": {
            "optimizer": "AMSGrad (torch.optim.Adam, amsgrad=True)",
            "lr": cfg["lr"],
            "batch_size": cfg["batch_size"],
            "loss": "cross-entropy summed over steps (MaskedStepCrossEntropy)",
            "passes": "one pass over each fresh chunk (skorch partial_fit)",
            "script": "benchmarks/train_rcnn.py",
        },
        "budget": {
            "sequence_presentations": state["presentations"],
            "optimizer_steps": state["optimizer_steps"],
            "cpu_hours": round(state["cpu_seconds"] / 3600, 3),
            "hardware": "one thread of a shared 2-core x86 machine, CPU only",
            "at_best_validation": state.get("best"),
        },
        "metrics": {
            "test_set": "simulate_protocol(n_per_class, random_state=8000) of "
            "skastro._demo.hits (22 epochs); 95% bootstrap intervals",
            "test": result["test"],
            "accuracy_by_epochs_seen": result["accuracy_by_epochs_seen"],
            "shifted": result.get("shifted"),
        },
        "library_versions": {
            "skastro": skastro.__version__,
            "torch": torch.__version__,
            "skorch": skorch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    (WEIGHTS_DIR / f"{NAME}.json").write_text(json.dumps(card, indent=1) + "\n")
    print(f"exported {f_weights} ({f_weights.stat().st_size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
