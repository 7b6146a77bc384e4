"""Measure a HiTS SequenceRCNN training run on the paper's protocol.

The run is trained by ``skastro train`` (:mod:`skastro.training`)::

    skastro train sequence-rcnn-hits-reduced --out DIR --hours 6 [--resume]

and measured here without exporting it (``export_model`` measures what it
ships)::

    PYTHONPATH=. nice -n 10 python benchmarks/train_rcnn_eval.py --run DIR \\
        [--recipe sequence-rcnn-hits-reduced] [--shifted] [--trials 3]

On fresh simulated sequences (:func:`skastro.training.evaluate_sequence_rcnn`):
the RCNN's accuracy after 22 epochs and per-class recalls beside the
light-curve forest, with 95% bootstrap intervals, and both against the
observation epochs seen (Carrasco-Davis et al. 2019, Fig. 4.1); with
``--shifted`` also the shifted-domain average recall over the paper's five
real classes before and after fine-tuning on 10 sequences per class
(:func:`skastro.training.hits_shifted_domain`, their Fig. 4.2). Results go to
``DIR/eval.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    import torch

    from skastro.models import load_pretrained
    from skastro.training import (
        evaluate_sequence_rcnn,
        export_model,
        hits_shifted_domain,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--recipe", default="sequence-rcnn-hits-reduced")
    ap.add_argument("--test-per-class", type=int, default=300)
    ap.add_argument("--forest-per-class", type=int, default=1000)
    ap.add_argument("--shifted", action="store_true")
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.process_time()
    # the model as it would ship: exported beside the run, loaded back
    net = load_pretrained(
        export_model(args.recipe, args.run, args.run / "model", evaluate=False)
    )
    result = {
        "protocol": evaluate_sequence_rcnn(
            net,
            test_per_class=args.test_per_class,
            forest_per_class=args.forest_per_class,
            memory=args.run / "eval-cache",
        )
    }
    print(json.dumps(result["protocol"], indent=1), flush=True)
    if args.shifted:
        result["shifted"] = hits_shifted_domain(
            net, forest_per_class=args.forest_per_class, n_trials=args.trials
        )
        print(json.dumps(result["shifted"], indent=1), flush=True)
    result["eval_cpu_seconds"] = round(time.process_time() - t0, 1)
    (args.run / "eval.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
