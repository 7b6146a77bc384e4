"""``skastro train``: the command-line side of :func:`train_recipe`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._export import export_model
from ._recipes import RECIPES, get_recipe
from ._train import simulate_ahead, train_recipe

__all__ = ["run_train"]


def run_train(args: argparse.Namespace) -> int:
    """Run ``skastro train`` with parsed arguments; returns the exit code."""
    if args.recipe == "list":
        for name, recipe in RECIPES.items():
            print(f"{name:28s} -> {recipe.model_name}: {recipe.description}")
        return 0
    recipe = get_recipe(args.recipe)
    out = Path(args.out)
    if args.simulate_ahead:
        simulate_ahead(recipe, out, ahead=args.ahead)
        return 0
    if args.hours is None or not args.hours > 0:
        raise ValueError(f"--hours must be a number > 0; got {args.hours!r}.")
    train_recipe(
        recipe,
        out,
        hours=args.hours,
        resume=args.resume,
        every_minutes=args.every_minutes,
        max_passes=args.max_passes,
        init=args.init,
        lr=args.lr,
        lr_floor=args.lr_floor,
        n_threads=args.threads,
        verbose=0 if args.quiet else 1,
    )
    dest = export_model(
        recipe, out, out / "model", dtype=args.dtype, evaluate=args.evaluate
    )
    print(f"wrote {dest / 'weights.pt'} and {dest / 'card.json'}")
    return 0
