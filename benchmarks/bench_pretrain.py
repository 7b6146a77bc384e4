"""Benchmark: MagnitudePretrainer (skorch) vs a plain PyTorch loop, and memory.

1. Throughput. The same network (:class:`skastro.nn.VGG16StampNet`), data,
   batch size, optimiser (Adam, lr 1e-4) and loss (NaN-masked MAE) trained
   for the same epochs two ways: :class:`skastro.nn.MagnitudePretrainer`
   (input validation, target scaling, skorch's loop and callbacks) and the
   loop a user would otherwise write (``DataLoader`` over a
   ``TensorDataset``, ``zero_grad``/``backward``/``step``). The two run
   alternately, ``--repeats`` times each, on one CPU thread; the median
   times give stamps per second and the wrapper overhead, both in wall time
   and in process CPU time (which other jobs on a shared machine disturb
   less).
2. Peak memory. A fresh process holds ``--n-memory`` (100,000) stamps of
   12x32x32 float32 (4.9 GB) plus magnitudes with a third of the u band
   missing, and fits one epoch of a small-width pretrainer on them; its peak
   resident memory (``ru_maxrss``) is compared with the size of the array.

Usage::

    python benchmarks/bench_pretrain.py                 # width 0.25, 100k stamps
    python benchmarks/bench_pretrain.py --width 1.0     # full VGG16 (slow on CPU)
    python benchmarks/bench_pretrain.py --n-memory 0    # skip the memory part
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from skastro.nn import MagnitudePretrainer, MaskedL1Loss, VGG16StampNet


def make_data(n: int, n_bands: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_bands, 32, 32)).astype(np.float32)
    y = rng.uniform(14.0, 21.0, size=(n, n_bands))
    y[::3, 0] = np.nan  # a third miss the u band: masked in the loss
    return X, y


def plain_loop(X, y, *, width, n_hidden, epochs, batch_size, seed=0):
    """The hand-written loop: same module, loss, optimiser, batches."""
    torch.manual_seed(seed)
    module = VGG16StampNet(X.shape[1], y.shape[1], width=width, n_hidden=n_hidden)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    criterion = MaskedL1Loss()
    data = TensorDataset(
        torch.as_tensor(X), torch.as_tensor((y / 35.0).astype(np.float32))
    )
    loader = DataLoader(data, batch_size=batch_size, shuffle=True)
    t0, c0 = time.perf_counter(), time.process_time()
    module.train()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(module(xb), yb)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - t0, time.process_time() - c0


def skorch_fit(X, y, *, width, n_hidden, epochs, batch_size, seed=0):
    net = MagnitudePretrainer(
        module__width=width,
        module__n_hidden=n_hidden,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        verbose=0,
        random_state=seed,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    net.fit(X, y)
    return time.perf_counter() - t0, time.process_time() - c0


_MEMORY_SCRIPT = """
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from skastro.nn import MagnitudePretrainer
n = int(sys.argv[1])
X = np.empty((n, 12, 32, 32), dtype=np.float32)
rng = np.random.default_rng(0)
for i in range(0, n, 4096):
    X[i:i + 4096] = rng.standard_normal(X[i:i + 4096].shape, dtype=np.float32)
y = rng.uniform(14.0, 21.0, size=(n, 12))
y[::3, 0] = np.nan
after_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
net = MagnitudePretrainer(module__width=0.0625, module__n_hidden=64, max_epochs=1,
                          batch_size=512, train_split=None, verbose=0,
                          random_state=0).fit(X, y)
fit_s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"data_bytes": X.nbytes + y.nbytes, "after_data": after_data,
                  "peak": peak, "fit_s": fit_s}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=512, help="stamps for throughput")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--n-hidden", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-memory", type=int, default=100_000)
    args = parser.parse_args()
    torch.set_num_threads(1)

    X, y = make_data(args.n)
    kw = dict(
        width=args.width,
        n_hidden=args.n_hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
    )
    # warm-up (first-call allocations) for both
    plain_loop(X[:64], y[:64], **{**kw, "epochs": 1})
    skorch_fit(X[:64], y[:64], **{**kw, "epochs": 1})
    t_plain, t_skorch = [], []
    for _ in range(args.repeats):
        t_plain.append(plain_loop(X, y, **kw))
        t_skorch.append(skorch_fit(X, y, **kw))
    stamps = args.n * args.epochs
    print(
        f"Pretraining throughput, CPU, 1 thread, VGG16 width={args.width}, "
        f"{args.n} stamps 12x32x32 x {args.epochs} epochs, batch {args.batch_size}, "
        f"median of {args.repeats} alternating runs"
    )
    # wall time, and process CPU time (robust to other jobs on a shared machine)
    for k, clock in enumerate(("wall", "CPU")):
        tp = float(np.median([t[k] for t in t_plain]))
        ts = float(np.median([t[k] for t in t_skorch]))
        runs_p = ", ".join(f"{t[k]:.2f}" for t in t_plain)
        runs_s = ", ".join(f"{t[k]:.2f}" for t in t_skorch)
        print(f" {clock} time:")
        print(f"  plain PyTorch loop     : {stamps / tp:8.1f} stamps/s  ({runs_p} s)")
        print(f"  MagnitudePretrainer    : {stamps / ts:8.1f} stamps/s  ({runs_s} s)")
        overhead = 100 * (ts / tp - 1)
        print(f"  ratio skorch/plain     : {ts / tp:.3f}  (overhead {overhead:+.1f}%)")

    if args.n_memory:
        proc = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(args.n_memory)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(proc.stderr)
            raise SystemExit(proc.returncode)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        gb = 1024**3
        print(
            f"Peak memory, {args.n_memory} stamps 12x32x32 float32 "
            f"({res['data_bytes'] / gb:.2f} GiB of data), one epoch of fit "
            f"({res['fit_s']:.0f} s):"
        )
        print(f"  after building the data: {res['after_data'] / gb:.2f} GiB")
        print(f"  peak during fit        : {res['peak'] / gb:.2f} GiB")
        print(
            f"  peak / data            : {res['peak'] / res['data_bytes']:.2f} "
            f"(+{(res['peak'] - res['data_bytes']) / gb:.2f} GiB)"
        )


if __name__ == "__main__":
    main()
