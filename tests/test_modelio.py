"""save_model / load_model round trip and every kind of bad file."""
from __future__ import annotations

import dataclasses
import json
import types

import numpy as np
import pytest

from mfcore.errors import ConfigError, ModelFileError
from mfcore.evaluate.ranking import evaluate_ranking
from mfcore.modelio import load_model, model_arrays, save_model
from mfcore.recommend import recommend


@dataclasses.dataclass
class Stats:
    epoch: int
    loss: float
    val_rmse: float


def make_model(data, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return types.SimpleNamespace(
        user_factors_=rng.normal(0, 1, (data.n_users, k)).astype(np.float32),
        item_factors_=rng.normal(0, 1, (data.n_items, k)).astype(np.float32),
        user_bias_=rng.normal(0, 1, data.n_users).astype(np.float32),
        item_bias_=rng.normal(0, 1, data.n_items).astype(np.float32),
        global_mean_=np.float32(3.25), params={"factors": k, "reg": 0.02, "biased": True},
        history_=[Stats(1, 10.0, float("nan")), Stats(2, 8.5, 1.1)], status_="fitted",
        data_fingerprint_="abc")


def test_round_trip(tmp_path, msd_small):
    m = make_model(msd_small)
    path = save_model(m, tmp_path / "model.npz", data=msd_small)
    loaded, meta = load_model(path)
    for a in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(loaded, a), getattr(m, a))
        assert getattr(loaded, a).dtype == np.float32
    assert loaded.global_mean_ == pytest.approx(3.25)
    assert loaded.params == m.params and loaded.status_ == "fitted"
    assert loaded.history_[1] == {"epoch": 2, "loss": 8.5, "val_rmse": 1.1}
    assert loaded.history_[0]["val_rmse"] is None                 # NaN stored as null
    assert loaded.data_fingerprint_ == msd_small.fingerprint
    assert meta["format"] == "mfcore-model" and meta["format_version"] == 1
    assert loaded.user_ids.tolist() == msd_small.user_ids.tolist()
    assert meta["user_ids"] is loaded.user_ids and meta["item_ids"] is loaded.item_ids
    assert loaded.item_ids.tolist() == msd_small.item_ids.tolist()
    # Every array is plain (no object dtype) in the file.
    with np.load(path, allow_pickle=False) as z:
        assert all(z[n].dtype != object for n in z.files)
        assert z["user_ids"].dtype.kind == "U"
    # The loaded model works with the evaluate/recommend functions.
    assert recommend(loaded, 0, n=5)[0].tolist() == recommend(m, 0, n=5)[0].tolist()
    np.testing.assert_allclose(loaded.predict([0, 1], [2, 3]),
                               m.global_mean_ + m.user_bias_[[0, 1]] + m.item_bias_[[2, 3]]
                               + np.einsum("ij,ij->i", m.user_factors_[[0, 1]],
                                           m.item_factors_[[2, 3]]), rtol=1e-5)
    r = evaluate_ranking(loaded, msd_small, k=5, definition="favourites")
    assert r.n_evaluated > 0
    # No temporary file left behind.
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_int_ids_round_trip_and_no_data(tmp_path):
    from mfcore.interactions import Interactions
    d = Interactions.from_codes([0, 1], [0, 1], [1, 2], np.array([10, 20]), np.array([5, 6]))
    m = make_model(d)
    loaded, _ = load_model(save_model(m, tmp_path / "a.npz", data=d))
    assert loaded.user_ids.tolist() == [10, 20] and loaded.item_ids.dtype.kind == "i"
    loaded2, meta = load_model(save_model(m, tmp_path / "b.npz"))
    assert loaded2.user_ids is None and meta["fingerprint"] == "abc"
    with pytest.raises(ConfigError):
        save_model(m, tmp_path / "c.npz", data=Interactions.from_codes(
            [0], [0], [1], np.array([1, 2, 3]), np.array([1, 2])))


def test_save_replaces_atomically(tmp_path, msd_small):
    p = tmp_path / "m.npz"
    save_model(make_model(msd_small, seed=1), p)
    save_model(make_model(msd_small, seed=2), p)
    loaded, _ = load_model(p)
    assert np.array_equal(loaded.user_factors_, make_model(msd_small, seed=2).user_factors_)


def test_model_arrays_from_a_mapping(tmp_path, msd_small):
    p = save_model(make_model(msd_small), tmp_path / "m.npz", data=msd_small)
    with np.load(p, allow_pickle=False) as z:
        arrs = model_arrays(z)
    assert set(arrs) >= {"user_factors_", "item_factors_", "user_bias_", "item_bias_",
                         "global_mean_", "user_ids", "item_ids", "meta"}


def good_arrays(tmp_path, msd_small):
    p = save_model(make_model(msd_small), tmp_path / "good.npz", data=msd_small)
    with np.load(p, allow_pickle=False) as z:
        return {n: z[n] for n in z.files}


def write(tmp_path, name, **arrays):
    p = tmp_path / name
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


def test_not_our_file(tmp_path, msd_small):
    p = tmp_path / "text.npz"
    p.write_text("hello, not a model")
    with pytest.raises(ModelFileError, match="not an mfcore model"):
        load_model(p)
    p = tmp_path / "arr.npy"
    np.save(p, np.arange(3))
    with pytest.raises(ModelFileError, match="single numpy array"):
        load_model(p)
    p = write(tmp_path, "other.npz", a=np.arange(3))
    with pytest.raises(ModelFileError, match="no 'meta_json'"):
        load_model(p)
    arrs = good_arrays(tmp_path, msd_small)
    arrs["meta_json"] = np.array(json.dumps({"format": "someone-else"}))
    with pytest.raises(ModelFileError, match="marker"):
        load_model(write(tmp_path, "marker.npz", **arrs))
    arrs["meta_json"] = np.array(json.dumps({"format": "mfcore-model", "format_version": 99}))
    with pytest.raises(ModelFileError, match="newer"):
        load_model(write(tmp_path, "newer.npz", **arrs))
    with pytest.raises(ModelFileError, match="no such"):
        load_model(tmp_path / "missing.npz")


def test_inconsistent_arrays(tmp_path, msd_small):
    arrs = good_arrays(tmp_path, msd_small)
    bad = dict(arrs, user_bias=arrs["user_bias"][:-1])
    with pytest.raises(ModelFileError, match="bias shapes"):
        load_model(write(tmp_path, "b1.npz", **bad))
    bad = dict(arrs, item_factors=arrs["item_factors"][:, :2])
    with pytest.raises(ModelFileError, match="factor shapes"):
        load_model(write(tmp_path, "b2.npz", **bad))
    nan = arrs["user_factors"].copy()
    nan[0, 0] = np.nan
    with pytest.raises(ModelFileError, match="NaN"):
        load_model(write(tmp_path, "b3.npz", **dict(arrs, user_factors=nan)))
    bad = {k: v for k, v in arrs.items() if k != "item_bias"}
    with pytest.raises(ModelFileError, match="missing arrays: item_bias"):
        load_model(write(tmp_path, "b4.npz", **bad))


def test_truncated_file(tmp_path, msd_small):
    p = save_model(make_model(msd_small), tmp_path / "m.npz", data=msd_small)
    blob = p.read_bytes()
    for cut in (10, len(blob) // 2, len(blob) - 30):
        t = tmp_path / f"cut{cut}.npz"
        t.write_bytes(blob[:cut])
        with pytest.raises(ModelFileError):
            load_model(t)


def test_pickle_is_refused(tmp_path, msd_small):
    arrs = good_arrays(tmp_path, msd_small)
    arrs["user_ids"] = np.array(list(arrs["user_ids"]), dtype=object)
    p = tmp_path / "pickle.npz"
    with open(p, "wb") as f:
        np.savez(f, **arrs)                     # object arrays are pickled inside
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(p)
    p2 = tmp_path / "raw.npy"
    np.save(p2, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(p2)
    import pickle
    p3 = tmp_path / "raw.pkl"
    p3.write_bytes(pickle.dumps({"user_factors_": 1}))
    with pytest.raises(ModelFileError):
        load_model(p3)
