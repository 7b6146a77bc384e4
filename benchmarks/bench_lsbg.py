"""Benchmark: LSBGNet (skorch) against a plain PyTorch loop, and SourceFeatures.

Training and inference throughput (stamps/s) of the DeepShadows network
through :class:`skastro.nn.LSBGNet` and through a hand-written PyTorch loop
with the same module, optimizer (Adadelta, Keras ρ/ε), L2 penalty, asinh
input stretch and batch size; the ratio is the skorch wrapper's cost.
Runs are interleaved and the best of ``--repeats`` is kept, so that other
load on the machine affects both sides alike.

Usage::

    python benchmarks/bench_lsbg.py [--n 512] [--epochs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from skastro.datasets import make_lsbg_stamps
from skastro.nn import DeepShadowsCNN, LSBGNet
from skastro.sources import SourceFeatures


def plain_train(X, y, epochs, batch_size, seed=0):
    torch.manual_seed(seed)
    model = DeepShadowsCNN()
    opt = torch.optim.Adadelta(model.parameters(), lr=0.1, rho=0.95, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(np.arcsinh(X / np.float32(0.01)).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(Xt, yt), batch_size=batch_size, shuffle=True
    )
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss = loss + 0.13 * sum(w.pow(2).sum() for w in model.conv_kernels())
            loss = loss + 0.12 * model.dense.weight.pow(2).sum()
            loss.backward()
            opt.step()
    return model


def plain_predict(model, X, batch_size):
    Xt = torch.from_numpy(np.arcsinh(X / np.float32(0.01)).astype(np.float32))
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(Xt), batch_size):
            out.append(torch.sigmoid(model(Xt[start : start + batch_size])))
    return torch.cat(out).numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="training stamps")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--n-features", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X, y = make_lsbg_stamps(args.n, random_state=0, return_X_y=True)
    bs = args.batch_size
    n_img = args.n * args.epochs

    t_plain, t_skorch, i_plain, i_skorch = [], [], [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        model = plain_train(X, y, args.epochs, bs)
        t_plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        net = LSBGNet(max_epochs=args.epochs, batch_size=bs, random_state=0).fit(X, y)
        t_skorch.append(time.perf_counter() - t)
        t = time.perf_counter()
        plain_predict(model, X, bs)
        i_plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        net.predict_proba(X)
        i_skorch.append(time.perf_counter() - t)

    tp, ts, ip, is_ = min(t_plain), min(t_skorch), min(i_plain), min(i_skorch)
    print(
        f"LSBGNet benchmark: {args.n} stamps 3x64x64, batch {bs}, "
        f"{args.epochs} epochs, {args.threads} thread(s), best of {args.repeats}"
    )
    print(f"{'':24s}{'plain torch':>14s}{'LSBGNet':>14s}{'overhead':>10s}")
    print(
        f"{'training (stamps/s)':24s}{n_img / tp:14.1f}{n_img / ts:14.1f}"
        f"{(ts / tp - 1) * 100:9.1f}%"
    )
    print(
        f"{'inference (stamps/s)':24s}{args.n / ip:14.1f}{args.n / is_:14.1f}"
        f"{(is_ / ip - 1) * 100:9.1f}%"
    )

    Xf = X[: args.n_features]
    sf = SourceFeatures().fit(Xf)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        sf.transform(Xf)
        times.append(time.perf_counter() - t)
    print(
        f"SourceFeatures: {len(Xf) / min(times):.1f} stamps/s "
        f"({min(times) / len(Xf) * 1e3:.2f} ms per 3-band stamp, sep)"
    )


if __name__ == "__main__":
    main()
