import os
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
import torch
from skorch.history import History

from skastro.training import SimulatedStream, StreamPass, simulate_lsbg, splus_view

from ._toy import failing_simulate, short_simulate, toy_simulate


def _examples(stream, pass_index):
    stream.set_pass(pass_index)
    return np.stack([x for x, _ in stream])


def _keys(X):
    return {x.tobytes() for x in X}


def test_each_pass_is_new_and_reproducible():
    stream = SimulatedStream(toy_simulate, examples_per_pass=50, chunk_size=20)
    assert len(stream) == 60  # rounded up to whole chunks
    a, b = _examples(stream, 0), _examples(stream, 1)
    assert a.shape == (60, 3, 8, 8)
    assert not _keys(a) & _keys(b)
    np.testing.assert_array_equal(_examples(stream, 0), a)
    other = SimulatedStream(
        toy_simulate, examples_per_pass=50, chunk_size=20, random_state=1
    )
    assert not _keys(_examples(other, 0)) & _keys(a)


def test_repeats_reuse_a_pool_in_a_new_order():
    stream = SimulatedStream(
        toy_simulate, examples_per_pass=40, chunk_size=20, repeats=2
    )
    p0, p1, p2 = (_examples(stream, p) for p in range(3))
    assert _keys(p0) == _keys(p1)
    assert not np.array_equal(p0, p1)
    assert not _keys(p0) & _keys(p2)


def test_workers_split_the_chunks_without_duplicates():
    stream = SimulatedStream(toy_simulate, examples_per_pass=80, chunk_size=20)
    stream.set_pass(3)
    single = _keys(np.stack([x for x, _ in stream]))
    loader = torch.utils.data.DataLoader(stream, batch_size=10, num_workers=2)
    batches = [xb.numpy() for xb, _ in loader]
    both = np.concatenate(batches)
    assert len(both) == 80
    assert _keys(both) == single


def test_transform_is_applied_to_each_chunk():
    def double(X, y):
        return 2 * X, y

    plain = SimulatedStream(toy_simulate, examples_per_pass=20, chunk_size=20)
    doubled = SimulatedStream(
        toy_simulate, examples_per_pass=20, chunk_size=20, transform=double
    )
    np.testing.assert_array_equal(2 * _examples(plain, 0), _examples(doubled, 0))


def test_cache_is_read_back_and_old_pools_evicted(tmp_path):
    kwargs = dict(examples_per_pass=40, chunk_size=20, repeats=2, cache_dir=tmp_path)
    first = SimulatedStream(toy_simulate, **kwargs)
    a = _examples(first, 0)
    assert len(list(tmp_path.glob("pool0000000-chunk*.npz"))) == 2
    # another process (here: another stream) reads the cache, never simulating
    again = SimulatedStream(failing_simulate, **kwargs)
    np.testing.assert_array_equal(_examples(again, 0), a)
    _examples(first, 2)  # pool 1: pool 0 is deleted
    assert not list(tmp_path.glob("pool0000000-*"))
    assert len(list(tmp_path.glob("pool0000001-chunk*.npz"))) == 2


def test_a_shared_cache_keeps_the_pools_of_the_slowest_consumer(tmp_path):
    kwargs = dict(examples_per_pass=20, chunk_size=20, cache_dir=tmp_path)
    fast = SimulatedStream(toy_simulate, consumer="fast", **kwargs)
    slow = SimulatedStream(toy_simulate, consumer="slow", **kwargs)
    _examples(slow, 0)
    _examples(fast, 0)
    _examples(fast, 1)
    assert list(tmp_path.glob("pool0000000-*"))  # slow still reads pool 0
    _examples(slow, 1)
    assert not list(tmp_path.glob("pool0000000-*"))


def test_fill_simulates_ahead_of_the_consumers(tmp_path):
    stream = SimulatedStream(
        toy_simulate, examples_per_pass=40, chunk_size=20, cache_dir=tmp_path
    )
    assert stream.fill(ahead=1, max_pools=2) == 4
    assert len(list(tmp_path.glob("pool*-chunk*.npz"))) == 4
    reader = SimulatedStream(
        failing_simulate, examples_per_pass=40, chunk_size=20, cache_dir=tmp_path
    )
    _examples(reader, 1)


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = SimulatedStream(
        toy_simulate, examples_per_pass=20, chunk_size=20, cache_dir=tmp_path
    )
    lock = tmp_path / "pool0000000-chunk00000.lock"
    lock.write_text(dead.stdout.strip())
    X, _ = stream.load_chunk(0, 0)
    assert X.shape == (20, 3, 8, 8) and not lock.exists()


def test_stream_pass_callback_follows_the_history():
    stream = SimulatedStream(toy_simulate, examples_per_pass=20, chunk_size=20)

    class Net:
        history = History()

    net = Net()
    for _ in range(3):
        net.history.new_epoch()
    StreamPass().on_epoch_begin(net, dataset_train=stream)
    assert stream.pass_index == 2


def test_simulators_give_network_inputs():
    X, y = simulate_lsbg(2, 0)
    assert X.shape == (2, 3, 64, 64) and X.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, 1.0} and y.dtype == np.float32
    X12 = np.zeros((3, 12, 32, 32), np.float32)
    y12 = np.tile(np.arange(12, dtype=np.float32) + 14, (3, 1))
    X5, y5 = splus_view(X12, y12, bands="5", target_scale=2.0)
    assert X5.shape == (3, 5, 32, 32)
    from skastro.datasets import SPLUS_BANDS, SPLUS_BROAD_BANDS

    idx = [SPLUS_BANDS.index(b) for b in SPLUS_BROAD_BANDS]
    np.testing.assert_allclose(y5[0], (np.array(idx) + 14) / 2.0)
    with pytest.raises(ValueError, match="bands must be '12' or '5'"):
        splus_view(X12, y12, bands="3")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(simulate=None), "simulate must be a callable"),
        (dict(chunk_size=0), "chunk_size must be an int >= 1"),
        (dict(examples_per_pass=2.5), "examples_per_pass must be an int"),
        (dict(repeats=0), "repeats must be an int >= 1"),
        (dict(random_state=None), "random_state must be an int"),
        (dict(transform="x"), "transform must be a callable"),
        (dict(consumer="a/b"), "consumer must be a name"),
    ],
)
def test_bad_parameters_are_refused(kwargs, match):
    params = dict(simulate=toy_simulate, examples_per_pass=20, chunk_size=10)
    params.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        SimulatedStream(**params)


def test_bad_passes_and_simulators_are_refused(tmp_path):
    stream = SimulatedStream(toy_simulate, examples_per_pass=20, chunk_size=10)
    with pytest.raises(ValueError, match="pass_index must be an int >= 0"):
        stream.set_pass(-1)
    with pytest.raises(ValueError, match="fill needs a cache_dir"):
        stream.fill(max_pools=1)
    short = SimulatedStream(short_simulate, examples_per_pass=20, chunk_size=10)
    with pytest.raises(ValueError, match="must return exactly n of each"):
        list(short)


def test_stale_lock_helper_keeps_live_locks(tmp_path):
    from skastro.training._stream import _stale

    lock = tmp_path / "x.lock"
    lock.write_text(str(os.getpid()))
    assert not _stale(lock)
    assert not _stale(tmp_path / "missing.lock")
    stream = SimulatedStream(
        partial(toy_simulate, size=4), examples_per_pass=4, chunk_size=4
    )
    assert next(iter(stream))[0].shape == (3, 4, 4)


def dict_simulate(n, random_state):
    X, y = toy_simulate(n, random_state)
    return {"images": X, "mask": np.ones((n, 3), bool)}, y


def test_dict_inputs_stream_and_cache(tmp_path):
    stream = SimulatedStream(
        dict_simulate, examples_per_pass=20, chunk_size=10, cache_dir=tmp_path
    )
    first = list(stream)
    x, _ = first[0]
    assert set(x) == {"images", "mask"} and x["images"].shape == (3, 8, 8)
    again = SimulatedStream(
        failing_simulate, examples_per_pass=20, chunk_size=10, cache_dir=tmp_path
    )
    for (a, ya), (b, yb) in zip(first, again):
        np.testing.assert_array_equal(a["images"], b["images"])
        assert ya == yb
    batch = next(iter(torch.utils.data.DataLoader(stream, batch_size=4)))
    assert batch[0]["mask"].shape == (4, 3)
