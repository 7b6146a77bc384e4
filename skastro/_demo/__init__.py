"""The ``skastro demo`` job: the papers' comparisons on built-in simulated data.

Each section is a module in this package with a ``TITLE`` and a function
``run(ctx: DemoContext) -> SectionResult``. Sections are listed in
:data:`SECTIONS`, in the order the report shows them. A section writes its
figures and fitted models under ``ctx.out``, and returns a Markdown summary,
its measured figures (JSON-able) and the models to reload-check.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib

__all__ = ["DemoContext", "SectionResult", "SECTIONS", "run_demo"]

#: Section modules, in report order.
SECTIONS: list[str] = [
    "skastro._demo.stamps",
    "skastro._demo.lsbg",
    "skastro._demo.hits",
    "skastro._demo.splus",
    "skastro._demo.transfer",
]


@dataclass
class DemoContext:
    """What a demo section is given."""

    out: Path
    size: str = "small"
    random_state: int = 0
    verbose: int = 1

    def log(self, message: str) -> None:
        if self.verbose:
            print(message, flush=True)


@dataclass
class SectionResult:
    """What a demo section returns.

    Attributes
    ----------
    summary : str
        Markdown text (tables) for the report and the terminal.
    metrics : dict
        Measured figures, JSON-serialisable.
    figures : list of str
        Paths (relative to the output folder) of PNG files written.
    models : dict of str -> (str, str)
        ``name -> (model_path, input_path)``: a fitted pipeline saved with
        :func:`joblib.dump` and its input, also saved with joblib; the demo
        reloads each in a fresh process and checks predictions match.
    """

    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    models: dict[str, tuple[str, str]] = field(default_factory=dict)


def save_model_for_reload(
    ctx: DemoContext, name: str, model: Any, X: Any
) -> tuple[str, str]:
    """Dump ``model`` and its input ``X`` plus the current predictions."""
    model_path = ctx.out / "models" / f"{name}.joblib"
    input_path = ctx.out / "models" / f"{name}_input.joblib"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_path)
    method = "predict" if hasattr(model, "predict") else "transform"
    joblib.dump(
        {"X": X, "expected": getattr(model, method)(X), "method": method}, input_path
    )
    return str(model_path.relative_to(ctx.out)), str(input_path.relative_to(ctx.out))


_RELOAD_SCRIPT = textwrap.dedent(
    """
    import sys, joblib, numpy as np
    from skastro.utils.estimator_checks import assert_outputs_equal
    model = joblib.load(sys.argv[1])
    data = joblib.load(sys.argv[2])
    got = getattr(model, data["method"])(data["X"])
    assert_outputs_equal(data["expected"], got, what="reloaded predictions")
    print("OK")
    """
)


def reload_check(out: Path, model_path: str, input_path: str) -> bool:
    """Load a saved model in a fresh CPU process and compare its predictions."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _RELOAD_SCRIPT,
            str(out / model_path),
            str(out / input_path),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    return proc.returncode == 0 and "OK" in proc.stdout


def run_demo(
    out: str | os.PathLike = "skastro_demo",
    *,
    size: str = "small",
    sections: list[str] | None = None,
    random_state: int = 0,
    verbose: int = 1,
) -> dict[str, Any]:
    """Run the demo sections and write the report to ``out``.

    Parameters
    ----------
    out : path-like, default="skastro_demo"
        Output folder (created).
    size : {"small", "paper"}, default="small"
        ``"small"`` runs in minutes on 2 CPU cores; ``"paper"`` uses the
        papers' sample sizes (hours, a GPU helps).
    sections : list of str, optional
        Short names of the sections to run (e.g. ``["stamps"]``); all by default.
    random_state : int, default=0
    verbose : int, default=1

    Returns
    -------
    results : dict
        Per section: its metrics, figures, timing and reload checks.
    """
    if size not in ("small", "paper"):
        raise ValueError(f"size must be 'small' or 'paper'; got {size!r}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, size=size, random_state=random_state, verbose=verbose)
    modules = SECTIONS
    if sections is not None:
        known = {m.rsplit(".", 1)[-1]: m for m in SECTIONS}
        unknown = [s for s in sections if s not in known]
        if unknown:
            raise ValueError(
                f"unknown demo section(s) {unknown}; choose among {sorted(known)}."
            )
        modules = [known[s] for s in sections]
    results: dict[str, Any] = {}
    report = ["# skastro demo report", "", f"size: `{size}`", ""]
    for name in modules:
        module = importlib.import_module(name)
        short = name.rsplit(".", 1)[-1]
        ctx.log(f"\n== {module.TITLE} ==")
        t0 = time.perf_counter()
        res: SectionResult = module.run(ctx)
        elapsed = time.perf_counter() - t0
        reloads = {key: reload_check(out, *paths) for key, paths in res.models.items()}
        results[short] = {
            "title": module.TITLE,
            "seconds": round(elapsed, 1),
            "metrics": res.metrics,
            "figures": res.figures,
            "models": {k: v[0] for k, v in res.models.items()},
            "reload_identical": reloads,
        }
        report += [f"## {module.TITLE}", "", res.summary, ""]
        for fig in res.figures:
            report += [f"![{Path(fig).stem}]({fig})", ""]
        if reloads:
            report += ["Reloaded in a fresh CPU process, identical predictions:", ""]
            report += [f"- `{k}`: {'yes' if ok else 'NO'}" for k, ok in reloads.items()]
            report.append("")
        report.append(f"_Section time: {elapsed:.1f} s_")
        report.append("")
        ctx.log(res.summary)
        ctx.log(f"({elapsed:.1f} s)")
    (out / "report.md").write_text("\n".join(report))
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    ctx.log(f"\nReport written to {out / 'report.md'}")
    failed = [
        f"{s}:{k}"
        for s, r in results.items()
        for k, ok in r["reload_identical"].items()
        if not ok
    ]
    if failed:
        raise RuntimeError(f"reloaded models gave different predictions: {failed}")
    return results
