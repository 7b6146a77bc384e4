"""Checkpoints every few minutes and on interrupt, and fits resumed from them."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import signal
import threading
import time
from numbers import Real
from pathlib import Path

import torch
from skorch.callbacks import Callback
from skorch.history import History

__all__ = [
    "TrainingCheckpoint",
    "WallClockBudget",
    "CosineAnnealing",
    "CPUTime",
    "checkpoint_exists",
]

_FILES = ("params.pt", "optimizer.pt", "history.json", "rng.pt", "state.json")


def _current(dirname: Path) -> Path | None:
    """The complete checkpoint in ``dirname`` (the new one, else the previous)."""
    for name in ("checkpoint", "checkpoint.old"):
        path = dirname / name
        if all((path / f).exists() for f in _FILES):
            return path
    return None


def checkpoint_exists(dirname: str | os.PathLike) -> bool:
    """Whether ``dirname`` holds a complete checkpoint to resume from."""
    return _current(Path(dirname)) is not None


def _epoch_complete(row: dict) -> bool:
    # skorch's default callbacks record train_loss at the end of every epoch,
    # before the user's callbacks run
    return "train_loss" in row


def _rng_state(net) -> dict[str, torch.Tensor]:
    """torch's global random state and the net's own streams (skastro's
    estimators draw dropout from a private stream, ``_rng_``, and the batch
    order from a generator, ``_loader_generator_``)."""
    state = {"torch": torch.get_rng_state()}
    private = getattr(net, "_rng_", None)
    if private is not None:
        state["private_cpu"] = private.cpu_state
        for index, cuda in private.cuda_states.items():
            state[f"private_cuda{index}"] = cuda
    loader = getattr(net, "_loader_generator_", None)
    if loader is not None:
        state["loader"] = loader.get_state()
    return state


def _set_rng_state(net, state) -> None:
    if isinstance(state, torch.Tensor):  # checkpoints of skastro 0.1
        torch.set_rng_state(state)
        return
    torch.set_rng_state(state["torch"])
    private = getattr(net, "_rng_", None)
    if private is not None and "private_cpu" in state:
        private.cpu_state = state["private_cpu"]
        private.cuda_states = {
            int(k[len("private_cuda") :]): v
            for k, v in state.items()
            if k.startswith("private_cuda")
        }
    loader = getattr(net, "_loader_generator_", None)
    if loader is not None and "loader" in state:
        loader.set_state(state["loader"])


def _load_in_place(net, f_params: Path, f_optimizer: Path) -> None:
    """Load weights and optimizer state into the net's existing module and
    optimizer, so callbacks already bound to them (an LR scheduler) stay
    bound; falls back to the estimator's ``load_params`` (which rebuilds
    them) when the checkpoint was trained on data of other sizes."""
    state = torch.load(f_params, map_location=net.device, weights_only=True)
    from ..nn._base import METADATA_KEY

    meta = state.pop(METADATA_KEY, None)
    if meta is not None and hasattr(net, "_fitted_metadata"):
        if json.loads(meta) != json.loads(json.dumps(net._fitted_metadata())):
            net.load_params(f_params=f_params, f_optimizer=f_optimizer)
            return
    net.module_.load_state_dict(state)
    net.optimizer_.load_state_dict(
        torch.load(f_optimizer, map_location=net.device, weights_only=True)
    )


class TrainingCheckpoint(Callback):
    """Save weights, optimizer and history every few minutes; resume from them.

    The state (skorch's :meth:`~skorch.NeuralNet.save_params` files
    ``params.pt`` and ``optimizer.pt``, the history as ``history.json``,
    the random-number states ``rng.pt`` (torch's and the estimator's own
    streams) and ``state.json``) is written
    to ``dirname/checkpoint``: first into a temporary folder, which then
    replaces the previous checkpoint by renames, so a checkpoint is never
    half-written (if the process dies between the renames, the previous one
    is left as ``checkpoint.old`` and is used).

    Saves happen

    - at the end of an epoch when ``every_minutes`` have passed since the
      last save (``every_minutes=0``: every epoch);
    - after a batch when ``every_minutes > 0`` have passed (long epochs): the
      weights then include the unfinished epoch, but the history holds only
      the completed epochs, so a resumed fit repeats that epoch's number;
    - at the end of training, including after Ctrl-C (KeyboardInterrupt,
      which skorch turns into the end of the fit) and SIGTERM (turned into
      KeyboardInterrupt while the fit runs, in the main thread).

    With ``resume=True`` a fit whose ``dirname`` already holds a checkpoint
    starts from it (weights, optimizer state, history and random state), as
    skorch's :class:`~skorch.callbacks.LoadInitState`: call ``fit`` with
    ``max_epochs`` set to the epochs still to run. When epochs end at the
    saves and the training is deterministic (``iterator_train__num_workers``
    and the data the same, one thread), the resumed fit ends with the same
    weights as an uninterrupted one.

    Parameters
    ----------
    dirname : str or path
        Folder of the checkpoint (created if missing).
    every_minutes : float, default=10.0
        Minimum wall-clock time between two saves, minutes.
    resume : bool, default=True
        Load the checkpoint in ``dirname``, if any, when the fit begins.
    handle_sigterm : bool, default=True
        Turn SIGTERM into KeyboardInterrupt during the fit so the process
        saves before it ends.

    Attributes
    ----------
    n_saves_ : int
        Saves made during the current fit.
    resumed_from_ : str or None
        The checkpoint folder loaded when the fit began, if any.
    """

    def __init__(
        self,
        dirname,
        *,
        every_minutes: float = 10.0,
        resume: bool = True,
        handle_sigterm: bool = True,
    ):
        self.dirname = dirname
        self.every_minutes = every_minutes
        self.resume = resume
        self.handle_sigterm = handle_sigterm

    def initialize(self):
        if not isinstance(self.every_minutes, Real) or not self.every_minutes >= 0:
            raise ValueError(
                f"every_minutes must be a number >= 0; got {self.every_minutes!r}."
            )
        self.n_saves_ = 0
        self.resumed_from_ = None
        self._did_load = False
        self._last_save = time.monotonic()
        self._old_handler = None
        return self

    # ----------------------------------------------------------------- saving
    def save(self, net, *, complete_epochs_only: bool = True) -> Path:
        """Write the checkpoint now; returns its folder."""
        root = Path(self.dirname)
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / "checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        net.save_params(f_params=tmp / "params.pt", f_optimizer=tmp / "optimizer.pt")
        rows = net.history.to_list()
        if complete_epochs_only and rows and not _epoch_complete(rows[-1]):
            rows = rows[:-1]
        with open(tmp / "history.json", "w") as f:
            json.dump(rows, f)
        torch.save(_rng_state(net), tmp / "rng.pt")
        state = {
            "epochs": len(rows),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "mid_epoch": bool(net.history and not _epoch_complete(net.history[-1])),
        }
        with open(tmp / "state.json", "w") as f:
            json.dump(state, f)
        current, old = root / "checkpoint", root / "checkpoint.old"
        shutil.rmtree(old, ignore_errors=True)
        if current.exists():
            os.replace(current, old)
        os.replace(tmp, current)
        shutil.rmtree(old, ignore_errors=True)
        self._last_save = time.monotonic()
        self.n_saves_ += 1
        return current

    def _due(self) -> bool:
        return time.monotonic() - self._last_save >= 60.0 * self.every_minutes

    # ---------------------------------------------------------------- loading
    def load(self, net) -> Path | None:
        """Load the checkpoint of ``dirname`` into the initialised ``net``."""
        path = _current(Path(self.dirname))
        if path is None:
            return None
        _load_in_place(net, path / "params.pt", path / "optimizer.pt")
        net.history_ = net.history = History.from_file(str(path / "history.json"))
        _set_rng_state(net, torch.load(path / "rng.pt", weights_only=True))
        return path

    # -------------------------------------------------------------- callbacks
    def on_train_begin(self, net, **kwargs):
        if self.resume and not self._did_load:
            self._did_load = True
            path = self.load(net)
            self.resumed_from_ = None if path is None else str(path)
        self._last_save = time.monotonic()
        if (
            self.handle_sigterm
            and threading.current_thread() is threading.main_thread()
        ):
            self._old_handler = signal.signal(signal.SIGTERM, _raise_interrupt)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and self.every_minutes > 0 and self._due():
            self.save(net)

    def on_epoch_end(self, net, **kwargs):
        if self._due():
            self.save(net)

    def on_train_end(self, net, **kwargs):
        try:
            self.save(net)
        finally:
            if self._old_handler is not None:
                signal.signal(signal.SIGTERM, self._old_handler)
                self._old_handler = None


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


class WallClockBudget(Callback):
    """Stop a fit at the end of the first epoch past a wall-clock budget.

    Parameters
    ----------
    hours : float
        Budget of this fit, hours of wall-clock time from its start.

    Attributes
    ----------
    stopped_ : bool
        Whether the budget ended the last fit.
    """

    def __init__(self, hours: float):
        self.hours = hours

    def initialize(self):
        if not isinstance(self.hours, Real) or not self.hours > 0:
            raise ValueError(f"hours must be a number > 0; got {self.hours!r}.")
        self.stopped_ = False
        return self

    def on_train_begin(self, net, **kwargs):
        self._start = time.monotonic()
        self.stopped_ = False

    def on_epoch_end(self, net, **kwargs):
        if time.monotonic() - self._start >= 3600.0 * self.hours:
            self.stopped_ = True
            raise KeyboardInterrupt("wall-clock budget spent")


class CosineAnnealing(Callback):
    """Anneal the learning rate along a half cosine over a fit's budget.

    Before every training batch the learning rate of every parameter group
    is set to ``lr_min + (lr_start - lr_min) * (1 + cos(pi * p)) / 2``,
    where ``p`` is the fraction of the budget spent (at most 1): the passes
    completed by this fit over ``passes``, or the wall-clock time since the
    fit began over ``hours``. The budget is the fit's own, as those of
    :class:`WallClockBudget` and ``max_epochs``: a resumed fit anneals again
    from ``lr_start`` (pass the learning rate reached to continue the
    decay). The learning rate of each pass's last batch is recorded as
    ``event_lr``.

    Parameters
    ----------
    lr_start : float
        Learning rate at the start of the fit.
    lr_min : float
        Learning rate at the end of the budget (the floor), below
        ``lr_start``.
    passes : int, optional
        Budget in passes (epochs) of this fit.
    hours : float, optional
        Budget in wall-clock hours of this fit (when ``passes`` is None).
    """

    def __init__(
        self,
        lr_start: float,
        lr_min: float,
        *,
        passes: int | None = None,
        hours: float | None = None,
    ):
        self.lr_start = lr_start
        self.lr_min = lr_min
        self.passes = passes
        self.hours = hours

    def initialize(self):
        if not isinstance(self.lr_start, Real) or not self.lr_start > 0:
            raise ValueError(f"lr_start must be a number > 0; got {self.lr_start!r}.")
        if not isinstance(self.lr_min, Real) or not 0 <= self.lr_min < self.lr_start:
            raise ValueError(
                f"lr_min must be a number in [0, lr_start={self.lr_start!r}); got "
                f"{self.lr_min!r}."
            )
        if self.passes is not None:
            if not isinstance(self.passes, int) or not self.passes > 0:
                raise ValueError(f"passes must be an int > 0; got {self.passes!r}.")
        elif not isinstance(self.hours, Real) or not self.hours > 0:
            raise ValueError(
                "CosineAnnealing needs a budget: passes (an int > 0) or hours (a "
                f"number > 0); got passes={self.passes!r}, hours={self.hours!r}."
            )
        return self

    def on_train_begin(self, net, **kwargs):
        self._start = time.monotonic()
        self._first = len(net.history)

    def progress(self, net) -> float:
        """Fraction of the budget spent, in [0, 1]."""
        if self.passes is not None:
            done = len(net.history) - self._first
            if net.history and "train_loss" not in net.history[-1]:
                done -= 1  # the pass under way
            return min(max(done, 0) / self.passes, 1.0)
        return min((time.monotonic() - self._start) / (3600.0 * self.hours), 1.0)

    def lr(self, net) -> float:
        """The learning rate for the next batch."""
        cos = (1.0 + math.cos(math.pi * self.progress(net))) / 2.0
        return self.lr_min + (self.lr_start - self.lr_min) * cos

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            lr = self.lr(net)
            for group in net.optimizer_.param_groups:
                group["lr"] = lr
            # in the pass's row as it runs: a pass that ends the fit (the
            # wall-clock budget) keeps it too
            net.history.record("event_lr", lr)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CPUTime(Callback):
    """Record the CPU seconds (this process and its finished DataLoader
    workers) and the training examples of every epoch in the history, as
    ``cpu_s`` and ``n_examples``."""

    def on_epoch_begin(self, net, **kwargs):
        self._cpu = _cpu_seconds()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("cpu_s", round(_cpu_seconds() - self._cpu, 3))
        sizes = net.history[-1, "batches", :, "train_batch_size"]
        net.history.record("n_examples", int(sum(sizes)))
