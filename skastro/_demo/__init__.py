"""The ``skastro demo`` job: the papers' comparisons on built-in simulated data.

Each section is a module in this package that declares a :class:`Section`
as ``SECTION`` (its title, phases, torch threads, shipped model and
settings per demo size) and defines ``run(ctx: DemoContext) ->
SectionResult``. Sections are listed in
:data:`SECTIONS`, in the order the report shows them. A section writes its
figures and fitted models under ``ctx.out``, and returns a Markdown summary,
its measured figures (JSON-able), its headline comparisons with the paper
and the models to reload-check.

Threads: torch's thread count is set to the section's ``torch_threads``
(default 2), at most the current one, while the section runs and restored
afterwards (:func:`torch_threads`), so the demo leaves the process as it
found it.

Shipped models: a section evaluates the trained model named by its
``shipped`` with :func:`load_shipped`, which says in one line when the
model is not shipped in this installation.

Progress: a section declares its number of phases (``steps``) and calls
``ctx.step("what starts now")`` at the start of each phase; the demo shows
one tqdm bar per section. Deep estimators take ``callbacks=ctx.net_callbacks()``
so that skorch's :class:`~skorch.callbacks.ProgressBar` shows the batches of
each epoch. Both appear only when ``progress`` is on (by default when standard
error is a terminal), so piped logs stay clean.
"""

from __future__ import annotations

import contextlib
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

from ._report import (
    format_markdown_table,
    format_text_table,
    markdown_to_html,
    summary_rows,
)

__all__ = [
    "DemoContext",
    "Section",
    "SectionResult",
    "SECTIONS",
    "load_shipped",
    "run_demo",
    "torch_threads",
]

#: Section modules, in report order.
SECTIONS: list[str] = [
    "skastro._demo.stamps",
    "skastro._demo.lsbg",
    "skastro._demo.hits",
    "skastro._demo.splus",
    "skastro._demo.transfer",
    "skastro._demo.real",
]


@dataclass(frozen=True)
class Section:
    """What a demo section declares, as ``SECTION`` at the top of its module.

    The demo reads it to head the section, size its progress bar and set
    torch's threads; the section reads its shipped model's name and its
    settings for ``ctx.size`` from it.

    Attributes
    ----------
    title : str
        Heading of the section in the log and the report.
    steps : int, default=1
        Number of phases, each started by a ``ctx.step(...)`` call.
    torch_threads : int, default=2
        Torch intra-op threads while the section runs (at most the
        process's current count; see :func:`torch_threads`).
    shipped : str, optional
        Name of the shipped trained model the section evaluates
        (:func:`skastro.models.list_pretrained`); None when it has none.
    sizes : dict of str -> dict
        The section's settings per demo size (``"small"``, ``"paper"``,
        and any others it offers), read with :meth:`settings`.
    """

    title: str
    steps: int = 1
    torch_threads: int = 2
    shipped: str | None = None
    sizes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def settings(self, size: str) -> dict[str, Any]:
        """The section's settings for demo size ``size``."""
        if size not in self.sizes:
            raise ValueError(
                f"The demo section {self.title!r} has no size {size!r}; "
                f"choose among {list(self.sizes)}."
            )
        return self.sizes[size]


@dataclass
class DemoContext:
    """What a demo section is given."""

    out: Path
    size: str = "small"
    random_state: int = 0
    verbose: int = 1
    progress: bool = False
    _bar: Any = field(default=None, repr=False)
    _steps_done: int = field(default=-1, repr=False)

    def log(self, message: str) -> None:
        """Print ``message`` (above the progress bars when they are shown)."""
        if not self.verbose:
            return
        if self._bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(message)
        else:
            print(message, flush=True)

    def step(self, description: str) -> None:
        """Mark the start of the next phase of the current section."""
        if self._bar is None:
            return
        if self._steps_done >= 0:
            self._bar.update(1)
        self._steps_done += 1
        self._bar.set_postfix_str(description, refresh=True)

    def net_callbacks(self) -> list:
        """Callbacks for the section's skorch nets: a progress bar if on."""
        if not self.progress:
            return []
        from skorch.callbacks import ProgressBar

        return [("progress", ProgressBar(detect_notebook=False))]


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
        :func:`skastro.models.save_model` and its input, saved with joblib; the demo
        reloads each in a fresh process and checks predictions match.
    comparisons : list of (str, float or str, float or str or None)
        Headline results, ``(metric, ours, paper)``, one row each in the
        summary table; ``paper`` is ``None`` where the paper has no
        comparable figure.
    """

    summary: str
    metrics: dict[str, Any] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)
    models: dict[str, tuple[str, str]] = field(default_factory=dict)
    comparisons: list[tuple[str, Any, Any]] = field(default_factory=list)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with torch's intra-op threads set to at most ``n``.

    The previous count is restored on exit, also after an exception, so the
    demo does not change the thread count of the process that runs it.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(int(n), before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_shipped(ctx: DemoContext, name: str) -> Any | None:
    """The shipped trained model ``name``, or None with a one-line note.

    Parameters
    ----------
    ctx : DemoContext
    name : str
        A name of :func:`skastro.models.list_pretrained`.

    Returns
    -------
    model : fitted estimator or None
        None when this installation does not ship ``name``; the section
        then says so and relies on its live training.
    """
    from ..models import list_pretrained, load_pretrained

    if name not in list_pretrained():
        ctx.log(
            f"shipped model {name!r} is not in this installation "
            f"({list_pretrained()}); the live training stands in for it."
        )
        return None
    return load_pretrained(name)


def save_model_for_reload(
    ctx: DemoContext, name: str, model: Any, X: Any
) -> tuple[str, str]:
    """Save ``model`` (skastro's safe format) and dump its input ``X`` plus
    the current predictions."""
    from ..models import MODEL_SUFFIX, save_model

    model_path = ctx.out / "models" / f"{name}{MODEL_SUFFIX}"
    input_path = ctx.out / "models" / f"{name}_input.joblib"
    model_path.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, model_path)
    method = "predict" if hasattr(model, "predict") else "transform"
    joblib.dump(
        {"X": X, "expected": getattr(model, method)(X), "method": method}, input_path
    )
    return str(model_path.relative_to(ctx.out)), str(input_path.relative_to(ctx.out))


_RELOAD_SCRIPT = textwrap.dedent(
    """
    import sys, joblib, numpy as np
    from skastro.models import load_model
    from skastro.utils.estimator_checks import assert_outputs_equal
    model = load_model(sys.argv[1])
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
    progress: bool | None = None,
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
        0 prints nothing (no progress bars either).
    progress : bool, optional
        Show tqdm progress bars (per section, and skorch's per epoch). By
        default, only when standard error is an interactive terminal, so
        logs piped to a file stay clean.

    Returns
    -------
    results : dict
        Per section: its metrics, figures, timing (wall-clock ``seconds``
        and ``cpu_seconds``, this process and its children), headline
        comparisons and reload checks. Also writes ``report.md``,
        ``report.html`` and ``results.json`` to ``out``, and prints the
        summary table.
    """
    if size not in ("small", "paper"):
        raise ValueError(f"size must be 'small' or 'paper'; got {size!r}.")
    modules = _section_modules(sections)
    out = Path(out).resolve()  # saved pipelines name their files by absolute paths
    out.mkdir(parents=True, exist_ok=True)
    if progress is None:
        progress = _interactive()
    ctx = DemoContext(
        out=out,
        size=size,
        random_state=random_state,
        verbose=verbose,
        progress=bool(progress and verbose),
    )
    results: dict[str, Any] = {}
    report = ["# skastro demo report", "", f"size: `{size}`", ""]
    for number, name in enumerate(modules, 1):
        module = importlib.import_module(name)
        short = name.rsplit(".", 1)[-1]
        results[short], lines = _run_section(
            ctx, module, f"[{number}/{len(modules)}] {short}"
        )
        report += lines
    _write_report(ctx, results, report)
    failed = [
        f"{s}:{k}"
        for s, r in results.items()
        for k, ok in r["reload_identical"].items()
        if not ok
    ]
    if failed:
        raise RuntimeError(f"reloaded models gave different predictions: {failed}")
    return results


def _section_modules(sections: list[str] | None) -> list[str]:
    """The modules of the sections named ``sections`` (all when None)."""
    if sections is None:
        return SECTIONS
    known = {m.rsplit(".", 1)[-1]: m for m in SECTIONS}
    unknown = [s for s in sections if s not in known]
    if unknown:
        raise ValueError(
            f"unknown demo section(s) {unknown}; choose among {sorted(known)}."
        )
    return [known[s] for s in sections]


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run_section(
    ctx: DemoContext, module: Any, bar: str
) -> tuple[dict[str, Any], list[str]]:
    """Run one section and its reload checks: its results and report lines."""
    section: Section = module.SECTION
    ctx.log(f"\n== {section.title} ==")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    with (
        _section_bar(ctx, bar, section.steps),
        torch_threads(section.torch_threads),
    ):
        res: SectionResult = module.run(ctx)
        if res.models:
            ctx.step("reloading models in a fresh process")
        reloads = {
            key: reload_check(ctx.out, *paths) for key, paths in res.models.items()
        }
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    result = {
        "title": section.title,
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(cpu, 1),
        "metrics": res.metrics,
        "figures": res.figures,
        "models": {k: v[0] for k, v in res.models.items()},
        "reload_identical": reloads,
        "comparisons": [list(c) for c in res.comparisons],
    }
    lines = [f"## {section.title}", "", res.summary, ""]
    for fig in res.figures:
        lines += [f"![{Path(fig).stem}]({fig})", ""]
    if reloads:
        lines += ["Reloaded in a fresh CPU process, identical predictions:", ""]
        lines += [f"- `{k}`: {'yes' if ok else 'NO'}" for k, ok in reloads.items()]
        lines.append("")
    timing = f"{elapsed:.1f} s wall-clock, {cpu:.1f} s CPU"
    lines += [f"_Section time: {timing}_", ""]
    ctx.log(res.summary)
    ctx.log(f"({timing})")
    return result, lines


def _write_report(ctx: DemoContext, results: dict[str, Any], report: list[str]):
    """Write report.md, report.html and results.json; print the summary."""
    out = ctx.out
    rows = summary_rows(results)
    total = sum(r["seconds"] for r in results.values())
    cpu = sum(r["cpu_seconds"] for r in results.values())
    if rows:
        report[4:4] = [
            "## Summary",
            "",
            "One row per headline result; the paper's figure where it has one "
            "(the papers used real survey data and far larger samples).",
            "",
            format_markdown_table(rows),
            "",
            f"_Total time: {total:.0f} s wall-clock, {cpu:.0f} s CPU_",
            "",
        ]
    text = "\n".join(report)
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "report.html").write_text(
        markdown_to_html(text, title=f"skastro demo report ({ctx.size})", base=out),
        encoding="utf-8",
    )
    (out / "results.json").write_text(
        json.dumps(
            {
                **results,
                "_summary": rows,
                "_total_seconds": round(total, 1),
                "_total_cpu_seconds": round(cpu, 1),
            },
            indent=2,
            default=str,
        )
    )
    if rows:
        ctx.log("\nSummary (ours vs the paper's figure):\n")
        ctx.log(format_text_table(rows))
    ctx.log(f"\nTotal time {total:.0f} s wall-clock, {cpu:.0f} s CPU.")
    ctx.log(f"Report written to {out / 'report.md'} and {out / 'report.html'}")


def _interactive() -> bool:
    """True when standard error is a terminal (where tqdm bars are readable)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


class _section_bar:
    """Context manager: one tqdm bar over a section's ``steps`` phases."""

    def __init__(self, ctx: DemoContext, desc: str, steps: int):
        self.ctx = ctx
        self.desc = desc
        # the sections' phases, then the reload check
        self.total = int(steps) + 1

    def __enter__(self) -> _section_bar:
        if self.ctx.progress:
            from tqdm.auto import tqdm

            self.ctx._bar = tqdm(
                total=self.total,
                desc=self.desc,
                unit="step",
                bar_format="{desc}: {n_fmt}/{total_fmt} steps |{bar}| "
                "{elapsed}{postfix}",
                dynamic_ncols=True,
            )
            self.ctx._steps_done = -1
        return self

    def __exit__(self, *exc: Any) -> None:
        bar = self.ctx._bar
        if bar is not None:
            if exc[0] is None:
                bar.update(bar.total - bar.n)
                bar.set_postfix_str("done", refresh=True)
            bar.close()
        self.ctx._bar = None
        self.ctx._steps_done = -1
