"""Benchmark ImageEmbedder throughput per backbone and similarity-search latency.

Run::

    PYTHONPATH=. python benchmarks/bench_embed.py [--quick]

It prints, side by side in one run:

- embedding throughput (stamps/s) of :class:`skastro.nn.ImageEmbedder` per
  backbone on CPU, for 3-band 64x64 stamps, and the ratio to what a user
  would otherwise write: a plain PyTorch loop over the same torchvision
  module (``torch.inference_mode``, batches of the same size) — the cost of
  the scikit-learn wrapper (validation, copies);
- similarity-search latency for one query, and for a batch of 100, against
  100,000 embeddings of 1280 features (EfficientNet-B0's length) with
  :class:`skastro.neighbors.SimilaritySearch` (cosine), against
  scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors` with
  ``metric="cosine"`` (what a user would write) and a hand-written numpy
  scan (normalise, one matrix product, ``argpartition``).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

from skastro.neighbors import SimilaritySearch  # noqa: E402
from skastro.nn import BACKBONES, ImageEmbedder  # noqa: E402


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_embedding(n: int, size: int, threads: int, repeats: int) -> None:
    torch.set_num_threads(threads)
    X = np.random.default_rng(0).normal(size=(n, 3, size, size)).astype(np.float32)
    print(
        f"\nembedding {n} stamps 3x{size}x{size}, {threads} thread(s), best of {repeats}"
    )
    print(
        f"{'backbone':<16}{'features':>9}{'skastro /s':>12}{'plain loop /s':>15}{'overhead':>10}"
    )
    for name in sorted(BACKBONES):
        emb = ImageEmbedder(name, batch_size=64, random_state=0).fit(X[:2])
        net = emb.backbone_

        def plain(net=net):
            out = []
            with torch.inference_mode():
                for start in range(0, n, 64):
                    out.append(net(torch.from_numpy(X[start : start + 64])).numpy())
            return np.concatenate(out)

        emb.transform(X[:4])  # warm-up
        t_ours = _best(lambda emb=emb: emb.transform(X), repeats)
        t_plain = _best(plain, repeats)
        print(
            f"{name:<16}{net.n_features:>9}{n / t_ours:>12.0f}{n / t_plain:>15.0f}"
            f"{(t_ours / t_plain - 1):>+10.1%}"
        )


def bench_search(n_gallery: int, n_features: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(n_gallery, n_features)).astype(np.float32)
    queries = rng.normal(size=(100, n_features)).astype(np.float32)
    k = 10
    search = SimilaritySearch(n_neighbors=k).fit(gallery)
    sk = NearestNeighbors(n_neighbors=k, metric="cosine").fit(gallery)
    unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)

    def numpy_scan(q):
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        dist = 1.0 - qn @ unit.T
        idx = np.argpartition(dist, k, axis=1)[:, :k]
        order = np.take_along_axis(dist, idx, axis=1).argsort(axis=1)
        return np.take_along_axis(idx, order, axis=1)

    ours5 = search.kneighbors(queries[:5])[1]
    same = np.array_equal(ours5, numpy_scan(queries[:5])) and np.array_equal(
        ours5, sk.kneighbors(queries[:5])[1]
    )
    print(
        f"\nsimilarity search: {n_gallery:,} embeddings x {n_features}, k={k}, cosine"
    )
    print(
        f"{'queries':<9}{'SimilaritySearch ms':>21}{'NearestNeighbors ms':>21}"
        f"{'speed-up':>10}{'numpy scan ms':>15}"
    )
    for nq in (1, 100):
        q = queries[:nq]
        t_ours = _best(lambda q=q: search.kneighbors(q), repeats)
        t_sk = _best(lambda q=q: sk.kneighbors(q), repeats)
        t_np = _best(lambda q=q: numpy_scan(q), repeats)
        print(
            f"{nq:<9}{1e3 * t_ours:>21.1f}{1e3 * t_sk:>21.1f}{t_sk / t_ours:>9.1f}x"
            f"{1e3 * t_np:>15.1f}"
        )
    print(f"same neighbours as NearestNeighbors and the numpy scan: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer stamps, one repeat")
    args = parser.parse_args()
    n, repeats = (64, 1) if args.quick else (256, 3)
    bench_embedding(n, 64, threads=1, repeats=repeats)
    if not args.quick:
        bench_embedding(n, 64, threads=os.cpu_count() or 1, repeats=repeats)
    bench_search(20_000 if args.quick else 100_000, 1280, repeats=repeats)


if __name__ == "__main__":
    main()
