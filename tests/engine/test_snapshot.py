"""Training snapshots: copies in memory when small, an unlinked file when large; either way the
epoch loop goes back to exactly the state it left (undo, cancel, early stopping)."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from mfcore.load.synthetic import generate
from mfcore.train import MFModel
from mfcore.train import snapshot as snapshot_module
from mfcore.train.snapshot import Snapshot


def _arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((300, 7)).astype(np.float32),
            rng.standard_normal(300).astype(np.float32), np.arange(11, dtype=np.int64)]


@pytest.mark.parametrize("spill_bytes", [0, 1 << 30])
def test_restore_gives_back_the_copied_bytes(tmp_path, spill_bytes):
    arrays = _arrays()
    want = [a.copy() for a in arrays]
    snap = Snapshot(arrays, folder=tmp_path, spill_bytes=spill_bytes)
    assert snap.spilled == (spill_bytes == 0)
    for a in arrays:
        a[...] = 0
    snap.restore(arrays)
    for a, w in zip(arrays, want):
        np.testing.assert_array_equal(a, w)
    snap.restore(arrays)  # a second restore reads from the start again
    np.testing.assert_array_equal(arrays[0], want[0])


def test_a_spilled_copy_leaves_no_file_behind_and_holds_no_array(tmp_path):
    snap = Snapshot(_arrays(), folder=tmp_path, spill_bytes=0)
    assert snap.spilled and os.listdir(tmp_path) == []  # unlinked from the start
    assert not any(isinstance(v, np.ndarray) for v in vars(snap).values())


def test_an_unwritable_folder_keeps_the_copy_in_memory(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    arrays = _arrays()
    want = arrays[0].copy()
    snap = Snapshot(arrays, folder=blocker / "cache", spill_bytes=0)
    assert not snap.spilled
    arrays[0][...] = 1
    snap.restore(arrays)
    np.testing.assert_array_equal(arrays[0], want)


def test_restore_refuses_arrays_of_another_shape(tmp_path):
    snap = Snapshot(_arrays(), folder=tmp_path, spill_bytes=0)
    other = _arrays()
    other[0] = other[0][:, :6].copy()
    with pytest.raises(ValueError, match="shaped"):
        snap.restore(other)


@pytest.fixture
def spill_everything(monkeypatch, tmp_path):
    """Every snapshot goes to a file; counts them."""
    made = []
    real = Snapshot.__init__

    def init(self, arrays, **kw):
        real(self, arrays, **kw)
        made.append(self.spilled)

    monkeypatch.setattr(snapshot_module, "SPILL_BYTES", 0)
    monkeypatch.setenv("MFCORE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(Snapshot, "__init__", init)
    return made


def _ratings(seed: int = 3):
    data = generate(300, 120, 9_000, shape="ratings", seed=seed)
    mask = np.random.default_rng(seed).random(len(data)) >= 0.2
    return data.subset(mask), data.subset(~mask)


def _fit_two_ways(spill_everything, monkeypatch, make, fit):
    spilled = fit(make())
    assert spill_everything and all(spill_everything)
    monkeypatch.setattr(snapshot_module, "SPILL_BYTES", 1 << 40)
    spill_everything.clear()
    kept = fit(make())
    assert spill_everything and not any(spill_everything)
    return spilled, kept


def _same(a: MFModel, b: MFModel) -> None:
    assert (a.status_, a.best_epoch_, a.diverged_at_) == (b.status_, b.best_epoch_,
                                                         b.diverged_at_)
    assert [h.loss for h in a.history_] == [h.loss for h in b.history_]
    for x, y in zip(a._trained_arrays(), b._trained_arrays()):
        np.testing.assert_array_equal(x, y)


def test_early_stopping_from_a_spilled_snapshot_matches_one_in_memory(spill_everything,
                                                                      monkeypatch):
    train, val = _ratings()

    def fit(m):
        return m.fit(train, val)

    a, b = _fit_two_ways(spill_everything, monkeypatch, lambda: MFModel(
        factors=40, epochs=200, lr=0.03, reg=0.0, seed=0, early_stopping=True, patience=2,
        monitor="val_rmse", eval_sample=0), fit)
    assert a.status_ == "early_stopped" and len(a.history_) == a.best_epoch_ + 2
    _same(a, b)


def test_divergence_undone_from_a_spilled_snapshot(spill_everything, monkeypatch):
    train, val = _ratings()

    def fit(m):
        m.fit(train, val)
        m.params["lr"] = 80.0
        before = m.user_factors_.copy()
        m.fit_partial(train, val, epochs=2)
        np.testing.assert_array_equal(m.user_factors_, before)
        return m

    a, b = _fit_two_ways(spill_everything, monkeypatch, lambda: MFModel(
        factors=8, epochs=3, lr=0.01, seed=0, eval_sample=0), fit)
    assert a.status_ == "diverged" and a.diverged_at_[0] == 4 and len(a.history_) == 3
    _same(a, b)


def test_cancel_restores_a_spilled_snapshot(spill_everything):
    train, val = _ratings()
    cancel = threading.Event()
    kept = {}
    model = MFModel(factors=16, epochs=50, solver="als", seed=1, eval_sample=0)

    def callback(stats):
        kept[stats.epoch] = (model.user_factors_.copy(), model.item_factors_.copy())

    def progress(frac):
        if len(kept) == 2 and frac >= 0.5:  # epoch 3 has solved its users: undo them
            cancel.set()

    model.fit(train, val, callback=callback, cancel=cancel, progress=progress)
    assert model.status_ == "cancelled" and len(model.history_) == 2
    assert spill_everything and all(spill_everything)
    np.testing.assert_array_equal(model.user_factors_, kept[2][0])
    np.testing.assert_array_equal(model.item_factors_, kept[2][1])


def test_empty_and_strided_arrays(tmp_path):
    empty = [np.zeros((0, 4), np.float32), np.zeros(0, np.float32)]
    snap = Snapshot(empty, folder=tmp_path, spill_bytes=-1)  # spilled though it holds no byte
    assert snap.spilled
    snap.restore(empty)
    strided = [np.arange(20, dtype=np.float32).reshape(4, 5)[:, ::2]]
    want = strided[0].copy()
    snap = Snapshot(strided, folder=tmp_path, spill_bytes=0)
    assert not snap.spilled  # only C-contiguous arrays go to a file
    strided[0][...] = 0
    snap.restore(strided)
    np.testing.assert_array_equal(strided[0], want)


def test_close_lets_go_of_the_copy(tmp_path):
    snap = Snapshot(_arrays(), folder=tmp_path, spill_bytes=0)
    f = snap._file
    snap.close()
    assert f.closed
