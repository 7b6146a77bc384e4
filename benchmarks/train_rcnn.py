"""Train SequenceRCNN on freshly simulated HiTS sequences, resumably, on a CPU.

Run (in the background, on one core)::

    PYTHONPATH=. nice -n 5 python benchmarks/train_rcnn.py --out DIR \\
        --net reduced --hours 6            # start, or continue with --resume
    PYTHONPATH=. nice -n 5 python benchmarks/train_rcnn.py --out DIR --resume

Carrasco-Davis et al. (2019, §3.2.4) trained the network of their Table 3.3
for 30,000 batches of 256 simulated sequences (about 7.7 million sequence
presentations) on a GPU. Here every pass ("chunk") is a fresh
``make_hits_sequences(chunk_per_class, n_epochs=22,
random_state=CHUNK_SEED + k)``, so the network never sees a sequence twice
and cannot memorise a small training set; ``skorch``'s ``partial_fit`` runs
one pass over each chunk with ``warm_start`` semantics (weights, optimiser
state and history kept).

State in ``DIR``:

- ``last_params.pt``, ``last_optimizer.pt``, ``last_history.json``:
  skorch's ``save_params`` files, written every ``--checkpoint-minutes``
  (default 10) of wall time, at the end, and on SIGTERM/SIGINT (the pass in
  progress stops after its current batch);
- ``best_params.pt``: the module state dict with the best validation
  accuracy so far (after 22 epochs, on a fixed validation set of
  ``--val-per-class`` sequences per class, ``random_state=VAL_SEED``);
- ``state.json``: the configuration, the next chunk index, sequence
  presentations, CPU seconds, torch's RNG state file name and the
  validation log (``log``: one entry per evaluation).

``--resume`` reloads all of it and continues with chunk ``k``; a resumed run
is not bit-identical to an uninterrupted one (the chunk interrupted is
redone from its start). ``--lr`` on resume overrides the learning rate kept
in the optimiser state (e.g. to decay it). The port to ``skastro.training``
is direct: the chunk loop is an ``IterableDataset`` over
``make_hits_sequences`` with per-chunk seeds, and the checkpointing a
callback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skorch.callbacks import Callback  # noqa: E402

from skastro.datasets import make_hits_sequences  # noqa: E402
from skastro.nn import SequenceRCNN  # noqa: E402

#: Seeds of the training chunks (CHUNK_SEED + k), the validation set and the
#: test sets used to report results (disjoint ranges).
CHUNK_SEED = 100_000
VAL_SEED = 7_000
TEST_SEED = 8_000

#: Networks: the seed's Table 3.3 and the reduced one of the CPU runs.
NETS: dict[str, dict] = {
    "full": {"renorm_schedule": (0, 0, 0), "renorm_momentum": 0.05},
    "reduced": {
        "n_filters": 16,
        "n_hidden": 256,
        "n_lstm": 128,
        "dropout": 0.3,
        "renorm_momentum": 0.05,
        # the renormalisation is active from the first step (see the user
        # guide: a 5000-step warm-up leaves short runs at chance)
        "renorm_schedule": (0, 0, 0),
    },
}
ASINH_SOFTENING = 2.5


def make_net(net: str, *, lr: float, batch_size: int, seed: int) -> SequenceRCNN:
    """The estimator of a training run (``module__`` params from :data:`NETS`)."""
    return SequenceRCNN(
        **{f"module__{k}": v for k, v in NETS[net].items()},
        asinh_softening=ASINH_SOFTENING,
        max_epochs=1,
        batch_size=batch_size,
        lr=lr,
        train_split=None,
        random_state=seed,
        verbose=0,
    )


class _Stop(Callback):
    """Stop the pass in progress after the current batch when asked to."""

    def __init__(self, flag: dict):
        self.flag = flag

    def on_batch_end(self, net, **kwargs):
        if self.flag["stop"]:
            raise KeyboardInterrupt  # skorch ends the pass and returns


def validation_set(n_per_class: int):
    return make_hits_sequences(
        n_per_class, n_epochs=22, return_X_y=True, random_state=VAL_SEED
    )


def evaluate(net: SequenceRCNN, X, y) -> dict:
    proba = net.predict_proba(X)
    p_true = np.clip(proba[np.arange(len(y)), y], 1e-12, 1.0)
    return {
        "val_accuracy": float(np.mean(proba.argmax(axis=1) == y)),
        "val_log_loss": float(-np.mean(np.log(p_true))),
    }


def save_checkpoint(net: SequenceRCNN, out: Path, state: dict) -> None:
    tmp = out / "tmp"
    tmp.mkdir(exist_ok=True)
    net.save_params(
        f_params=tmp / "last_params.pt",
        f_optimizer=tmp / "last_optimizer.pt",
        f_history=tmp / "last_history.json",
    )
    torch.save(torch.get_rng_state(), tmp / "torch_rng.pt")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    for f in tmp.iterdir():  # replace the previous checkpoint only when complete
        f.replace(out / f.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--net", choices=sorted(NETS), default="reduced")
    ap.add_argument("--hours", type=float, default=6.0, help="CPU hours to add")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--chunk-per-class", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=None, help="default 1e-3")
    ap.add_argument("--val-per-class", type=int, default=200)
    ap.add_argument("--eval-every", type=int, default=4, help="chunks")
    ap.add_argument("--checkpoint-minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    if args.resume:
        state = json.loads((out / "state.json").read_text())
        cfg = state["config"]
    else:
        if (out / "state.json").exists():
            print(f"{out} holds a run; pass --resume to continue it.", file=sys.stderr)
            return 2
        cfg = {
            "net": args.net,
            "module": NETS[args.net],
            "asinh_softening": ASINH_SOFTENING,
            "chunk_per_class": args.chunk_per_class,
            "batch_size": args.batch_size,
            "lr": args.lr if args.lr is not None else 1e-3,
            "seed": args.seed,
            "n_epochs": 22,
            "chunk_seed": CHUNK_SEED,
            "val_seed": VAL_SEED,
            "val_per_class": args.val_per_class,
        }
        state = {
            "config": cfg,
            "chunk": 0,
            "presentations": 0,
            "optimizer_steps": 0,
            "cpu_seconds": 0.0,
            "best_val_accuracy": -1.0,
            "log": [],
        }
    flag = {"stop": False}

    def on_signal(signum, frame):
        flag["stop"] = True
        print(f"signal {signum}: stopping after this batch", flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    net = make_net(
        cfg["net"], lr=cfg["lr"], batch_size=cfg["batch_size"], seed=cfg["seed"]
    )
    net.set_params(callbacks=[("stop", _Stop(flag))])
    net.initialize()
    if args.resume:
        net.load_params(
            f_params=out / "last_params.pt",
            f_optimizer=out / "last_optimizer.pt",
            f_history=out / "last_history.json",
        )
        torch.set_rng_state(torch.load(out / "torch_rng.pt", weights_only=True))
        if args.lr is not None:
            cfg["lr"] = args.lr
            net.set_params(lr=args.lr)
            for group in net.optimizer_.param_groups:
                group["lr"] = args.lr
    X_val, y_val = validation_set(cfg["val_per_class"])
    budget = state["cpu_seconds"] + 3600.0 * args.hours
    last_ckpt = time.time()
    print(
        f"start: chunk {state['chunk']}, {state['presentations']} presentations, "
        f"{state['cpu_seconds'] / 3600:.2f} CPU h; budget {budget / 3600:.2f} h",
        flush=True,
    )
    while state["cpu_seconds"] < budget and not flag["stop"]:
        t_cpu = time.process_time()
        k = state["chunk"]
        X, y = make_hits_sequences(
            cfg["chunk_per_class"],
            n_epochs=cfg["n_epochs"],
            return_X_y=True,
            random_state=cfg["chunk_seed"] + k,
        )
        net.partial_fit(X, y)
        state["cpu_seconds"] += time.process_time() - t_cpu
        if flag["stop"]:  # the pass was cut short: redo chunk k on resume
            break
        state["chunk"] = k + 1
        state["presentations"] += len(y)
        state["optimizer_steps"] += int(np.ceil(len(y) / cfg["batch_size"]))
        if state["chunk"] % args.eval_every == 0:
            t_cpu = time.process_time()
            entry = {
                "chunk": state["chunk"],
                "presentations": state["presentations"],
                "cpu_hours": round(state["cpu_seconds"] / 3600, 4),
                "train_loss": float(net.history[-1, "train_loss"]),
                **evaluate(net, X_val, y_val),
            }
            state["cpu_seconds"] += time.process_time() - t_cpu
            state["log"].append(entry)
            if entry["val_accuracy"] > state["best_val_accuracy"]:
                state["best_val_accuracy"] = entry["val_accuracy"]
                state["best"] = entry
                torch.save(net.module_.state_dict(), out / "best_params.pt")
            print(json.dumps(entry), flush=True)
        if time.time() - last_ckpt > 60 * args.checkpoint_minutes:
            save_checkpoint(net, out, state)
            last_ckpt = time.time()
    save_checkpoint(net, out, state)
    print(
        f"stopped at chunk {state['chunk']}, {state['presentations']} "
        f"presentations, {state['cpu_seconds'] / 3600:.2f} CPU h",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
