"""save_model / load_model round trip and every kind of bad file."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mfcore.errors import ConfigError, ModelFileError
from mfcore.evaluate.accuracy import score_predictions
from mfcore.evaluate.ranking import evaluate_ranking
from mfcore.model import EpochStats, FactorModel
from mfcore.modelio import load_model, model_arrays, save_model
from mfcore.recommend import recommend, top_fans
from mfcore.split import random_split
from mfcore.train import MFModel

NAN = float("nan")


def make_model(data, k=4, seed=0):
    rng = np.random.default_rng(seed)
    return FactorModel(
        user_factors=rng.normal(0, 1, (data.n_users, k)),
        item_factors=rng.normal(0, 1, (data.n_items, k)),
        user_bias=rng.normal(0, 1, data.n_users), item_bias=rng.normal(0, 1, data.n_items),
        global_mean=3.25, params={"factors": k, "reg": 0.02, "biased": True},
        history=[EpochStats(1, 10.0, 2.0, NAN, 0.5, 100.0),
                 EpochStats(2, 8.5, 1.5, 1.1, 0.5, 90.0)],
        status="fitted", data_fingerprint="abc")


def test_round_trip(tmp_path, msd_small):
    m = make_model(msd_small)
    path = save_model(m, tmp_path / "model.npz", data=msd_small)
    loaded, meta = load_model(path)
    for a in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(loaded, a), getattr(m, a))
        assert getattr(loaded, a).dtype == np.float32
    assert loaded.global_mean_ == pytest.approx(3.25)
    assert isinstance(loaded, FactorModel)
    assert loaded.params == m.params and loaded.status_ == "fitted"
    assert loaded.history_[1] == m.history_[1]
    assert math.isnan(loaded.history_[0].val_rmse) and meta["history"][0]["val_rmse"] is None
    assert loaded.data_fingerprint_ == msd_small.fingerprint
    assert meta["format"] == "mfcore-model" and meta["format_version"] == 2
    assert loaded.user_ids.tolist() == msd_small.user_ids.tolist()
    assert meta["user_ids"] is loaded.user_ids and meta["item_ids"] is loaded.item_ids
    assert loaded.item_ids.tolist() == msd_small.item_ids.tolist()
    # Every array is plain (no object dtype) in the file; text ids are UTF-8 bytes + offsets.
    with np.load(path, allow_pickle=False) as z:
        assert all(z[n].dtype != object for n in z.files)
        assert z["user_ids_data"].dtype == np.uint8 and z["user_ids_offsets"].dtype == np.int32
    # The loaded model works with the evaluate/recommend functions.
    assert recommend(loaded, 0, n=5)[0].tolist() == recommend(m, 0, n=5)[0].tolist()
    np.testing.assert_allclose(loaded.predict([0, 1], [2, 3]),
                               m.global_mean_ + m.user_bias_[[0, 1]] + m.item_bias_[[2, 3]]
                               + np.einsum("ij,ij->i", m.user_factors_[[0, 1]],
                                           m.item_factors_[[2, 3]]), rtol=1e-5)
    r = evaluate_ranking(loaded, msd_small, k=5, definition="favourites")
    assert r.n_evaluated > 0
    # No temporary file left behind; the seen-items file of the data beside the model.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.npz", f"seen-{msd_small.fingerprint}.npz"]


def test_trained_model_and_its_file_predict_and_rank_alike(tmp_path, planted):
    """One predict path: a trained MFModel and its save→load round trip give the same numbers."""
    sp = random_split(planted[0], 0.2, seed=0)
    trained = MFModel(factors=6, epochs=3, seed=1).fit(sp.train, sp.val)
    loaded, _ = load_model(save_model(trained, tmp_path / "m.npz", data=sp.train))
    assert type(loaded) is FactorModel and isinstance(trained, FactorModel)
    users, items = sp.val.users, sp.val.items
    np.testing.assert_array_equal(loaded.predict(users, items), trained.predict(users, items))
    np.testing.assert_array_equal(loaded.predict(users, items, train=sp.train),
                                  trained.predict(users, items, train=sp.train))
    assert score_predictions(loaded, sp.val) == score_predictions(trained, sp.val)
    val_rmse = score_predictions(trained, sp.val)["rmse"]
    assert trained.history_[-1].val_rmse == pytest.approx(val_rmse, rel=1e-5)
    np.testing.assert_array_equal(loaded.scores(3), trained.scores(3))
    assert top_fans(loaded, 2, n=5)[0].tolist() == top_fans(trained, 2, n=5)[0].tolist()
    a = evaluate_ranking(trained, sp.train, sp.val, k=5)
    b = evaluate_ranking(loaded, sp.train, sp.val, k=5)
    assert a.per_subject.equals(b.per_subject)
    assert loaded.history_ == trained.history_ and loaded.params == trained.params
    assert loaded.best_epoch_ == trained.best_epoch_ and loaded.user_ids.tolist() == \
        sp.train.user_ids.tolist()
    # A loaded model saved again without data keeps its ids.
    again, _ = load_model(save_model(loaded, tmp_path / "again.npz"))
    assert again.item_ids.tolist() == loaded.item_ids.tolist()


def test_malformed_history_is_a_model_file_error(tmp_path, msd_small):
    arrs = good_arrays(tmp_path, msd_small)
    meta = json.loads(str(arrs["meta_json"]))
    meta["history"] = [{"loss": 1.0}]                      # no epoch number
    arrs["meta_json"] = np.array(json.dumps(meta))
    with pytest.raises(ModelFileError, match="history"):
        load_model(write(tmp_path, "hist.npz", **arrs))


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
    arrs["user_ids_data"] = np.array(list(arrs["user_ids_data"]), dtype=object)
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


def test_factors_read_straight_from_the_file_are_owned_and_crc_checked(tmp_path, msd_small):
    rng = np.random.default_rng(0)
    m = FactorModel(user_factors=rng.normal(size=(msd_small.n_users, 64)),
                    item_factors=rng.normal(size=(msd_small.n_items, 64)), global_mean=1.0)
    path = save_model(m, tmp_path / "m.npz", data=msd_small)
    loaded, _ = load_model(path)
    assert loaded.user_factors_.flags.writeable and loaded.user_factors_.base is None
    np.testing.assert_array_equal(loaded.user_factors_, m.user_factors_)
    raw = bytearray(path.read_bytes())
    assert msd_small.n_users * 64 * 4 > 20_000
    at = raw.index(b"user_factors.npy") + 20_000       # inside the array, past the header's
    #                                                   read-ahead (which checks small members)
    raw[at] ^= 0x01                                      # still a finite float32
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="damaged or truncated.*CRC") as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_id_offsets_of_either_width_read_back(tmp_path):
    from mfcore.idcodec import pack_strings, unpack_strings
    ids = ["a", "", "ünï", "x" * 300, None]
    packed: dict = {}
    pack_strings(ids, "u", packed)
    assert packed["u_offsets"].dtype == np.int32  # 4 bytes an id while the text fits
    wide = {**packed, "u_offsets": packed["u_offsets"].astype(np.int64)}  # as files used to be
    for block in (packed, wide):
        assert unpack_strings(block, "u").tolist() == ids
    with pytest.raises(ValueError, match="offsets"):
        unpack_strings({**packed, "u_offsets": packed["u_offsets"].astype(np.float64)}, "u")

