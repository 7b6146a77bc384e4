import json
import os
import signal

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from skastro.training import (
    CPUTime,
    SimulatedStream,
    StreamPass,
    TrainingCheckpoint,
    WallClockBudget,
    checkpoint_exists,
)

from ._toy import tiny_lsbgnet, toy_simulate


def _net(ckdir, *, extra=(), every_minutes=0.0, **params):
    callbacks = [
        ("stream_pass", StreamPass()),
        ("cpu_time", CPUTime()),
        ("checkpoint", TrainingCheckpoint(ckdir, every_minutes=every_minutes)),
        *extra,
    ]
    net = tiny_lsbgnet(
        callbacks=callbacks,
        iterator_train__shuffle=False,
        train_split=None,
        random_state=0,
        **params,
    )
    net.initialize()
    return net


def _stream():
    return SimulatedStream(toy_simulate, examples_per_pass=64, chunk_size=32)


def _fit(net, epochs):
    net.set_params(max_epochs=epochs)
    return NeuralNet.partial_fit(net, _stream(), None)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_resumed_fit_matches_an_uninterrupted_one(tmp_path):
    whole = _fit(_net(tmp_path / "whole"), 4)
    first = _fit(_net(tmp_path / "split"), 2)
    assert len(first.history) == 2
    resumed = _net(tmp_path / "split")
    _fit(resumed, 2)
    cb = dict(resumed.callbacks_)["checkpoint"]
    assert cb.resumed_from_ is not None
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    np.testing.assert_allclose(
        resumed.history[:, "train_loss"], whole.history[:, "train_loss"], rtol=1e-6
    )
    for (k, a), b in zip(
        whole.module_.state_dict().items(), resumed.module_.state_dict().values()
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    assert resumed.history[-1, "n_examples"] == 64
    assert resumed.history[-1, "cpu_s"] >= 0


class _StopAt(Callback):
    def __init__(self, batch, action="interrupt"):
        self.batch = batch
        self.action = action

    def on_batch_end(self, net, training=False, **kwargs):
        if (
            training
            and len(net.history) == 2
            and len(net.history[-1]["batches"]) == self.batch
        ):
            if self.action == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise KeyboardInterrupt


@pytest.mark.parametrize("action", ["interrupt", "sigterm"])
def test_an_interrupted_fit_saves_its_completed_epochs(tmp_path, action):
    before = signal.getsignal(signal.SIGTERM)
    net = _net(tmp_path, every_minutes=60.0, extra=[("stop", _StopAt(2, action))])
    _fit(net, 5)  # skorch ends the fit on KeyboardInterrupt
    assert signal.getsignal(signal.SIGTERM) is before
    assert checkpoint_exists(tmp_path)
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state == {**state, "epochs": 1, "mid_epoch": True}
    saved = torch.load(tmp_path / "checkpoint" / "params.pt", weights_only=True)
    for k, v in net.module_.state_dict().items():  # weights include epoch 2's batches
        torch.testing.assert_close(saved[k], v)
    resumed = _fit(_net(tmp_path), 1)
    assert [r["epoch"] for r in resumed.history] == [1, 2]


def test_saves_follow_the_clock(tmp_path):
    net = _fit(_net(tmp_path / "a", every_minutes=0.0), 3)
    assert dict(net.callbacks_)["checkpoint"].n_saves_ == 3 + 1  # epochs + end
    net = _fit(_net(tmp_path / "b", every_minutes=60.0), 3)
    assert dict(net.callbacks_)["checkpoint"].n_saves_ == 1  # only at the end


def test_the_previous_checkpoint_is_used_if_the_swap_was_cut(tmp_path):
    _fit(_net(tmp_path), 1)
    os.replace(tmp_path / "checkpoint", tmp_path / "checkpoint.old")
    assert checkpoint_exists(tmp_path)
    resumed = _fit(_net(tmp_path), 1)
    assert len(resumed.history) == 2
    assert not checkpoint_exists(tmp_path / "nothing")


def test_resume_false_starts_afresh(tmp_path):
    _fit(_net(tmp_path), 2)
    net = tiny_lsbgnet(
        callbacks=[("checkpoint", TrainingCheckpoint(tmp_path, resume=False))],
        iterator_train__shuffle=False,
        train_split=None,
    )
    net.initialize()
    _fit(net, 1)
    assert len(net.history) == 1


def test_the_budget_stops_at_the_end_of_an_epoch(tmp_path):
    net = _net(tmp_path, extra=[("budget", WallClockBudget(1e-9))])
    _fit(net, 5)
    assert len(net.history) == 1
    assert dict(net.callbacks_)["budget"].stopped_


@pytest.mark.parametrize(
    "callback, match",
    [
        (TrainingCheckpoint("x", every_minutes=-1), "every_minutes must be a number"),
        (WallClockBudget(0), "hours must be a number > 0"),
        (WallClockBudget("1"), "hours must be a number > 0"),
    ],
)
def test_bad_callback_settings_are_refused(callback, match):
    with pytest.raises(ValueError, match=match):
        callback.initialize()
