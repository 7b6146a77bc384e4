"""Long trainings on a CPU: streamed simulations, checkpoints, the papers' recipes.

- :class:`SimulatedStream` — a torch ``IterableDataset`` of fresh simulated
  examples every pass (per-worker, per-pass seeds; optional pools cached on
  disk when simulating is slower than training);
- :class:`TrainingCheckpoint` — a skorch callback saving weights, optimizer
  and history every few minutes and on interrupt, and resuming fits;
- :data:`RECIPES` and :func:`train_recipe` — the papers' set-ups trained for a
  wall-clock budget (``skastro train RECIPE --out DIR --hours H --resume``),
  optionally warm-started from a trained model (``--init NAME``) and with the
  learning rate annealed over the budget (:class:`CosineAnnealing`,
  ``--lr-floor``).
"""

from ._checkpoint import (
    CosineAnnealing,
    CPUTime,
    TrainingCheckpoint,
    WallClockBudget,
    checkpoint_exists,
)
from ._evaluate import (
    evaluate_lsbgnet,
    evaluate_pretrainer,
    evaluate_sequence_rcnn,
    evaluate_splus_classification,
    hits_forest_calibration,
    hits_shifted_domain,
    masked_mae_ci,
)
from ._export import export_model, load_run, training_budget
from ._recipes import (
    RECIPES,
    Recipe,
    carrasco_davis_rcnn,
    deepshadows_lsbgnet,
    get_recipe,
    martinazzo_pretrainer,
    simulate_hits,
    simulate_lsbg,
    simulate_splus_pool,
    splus_view,
)
from ._stream import SimulatedStream, StreamPass
from ._train import make_stream, simulate_ahead, train_recipe

__all__ = [
    "CosineAnnealing",
    "CPUTime",
    "RECIPES",
    "Recipe",
    "SimulatedStream",
    "StreamPass",
    "TrainingCheckpoint",
    "WallClockBudget",
    "carrasco_davis_rcnn",
    "checkpoint_exists",
    "deepshadows_lsbgnet",
    "evaluate_lsbgnet",
    "evaluate_pretrainer",
    "evaluate_sequence_rcnn",
    "evaluate_splus_classification",
    "export_model",
    "hits_forest_calibration",
    "hits_shifted_domain",
    "load_run",
    "masked_mae_ci",
    "training_budget",
    "get_recipe",
    "make_stream",
    "martinazzo_pretrainer",
    "simulate_ahead",
    "simulate_hits",
    "simulate_lsbg",
    "simulate_splus_pool",
    "splus_view",
    "train_recipe",
]
