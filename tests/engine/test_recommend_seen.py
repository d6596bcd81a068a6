"""Recommendations for one user from a saved model leave out the user's items without the data:
the seen-items file beside the model (mfcore.seen)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from factories import make_model
from mfcore.cli import main
from mfcore.errors import ModelFileError
from mfcore.load import load_dataset
from mfcore.modelio import save_model
from mfcore.seen import seen_items, seen_path


@pytest.fixture()
def plays(tmp_path):
    rng = np.random.default_rng(4)
    rows = {(f"user{u:03d}", f"SO{int(i):04d}") for u in range(60)
            for i in rng.choice(80, size=1 + u % 9, replace=False)}
    path = tmp_path / "plays.tsv"
    path.write_text("".join(f"{u}\t{s}\t{1 + len(u + s) % 4}\n" for u, s in sorted(rows)))
    return path


def model_of(data):
    rng = np.random.default_rng(0)
    # item biases follow popularity, so the top of every list is made of songs users have
    return make_model(rng.normal(size=(data.n_users, 3)), rng.normal(size=(data.n_items, 3)),
                      bi=np.log1p(data.item_counts()).astype(float) * 3)


def rec(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(["recommend", *map(str, argv), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_saved_model_excludes_the_users_items_without_data(tmp_path, plays, capsys):
    data = load_dataset(plays)
    path = save_model(model_of(data), tmp_path / "models" / "m.npz", data=data)
    side = seen_path(path, data.fingerprint)
    assert side.is_file()
    indptr, items, _ = data.csr("user")
    for u in (0, 7, 33, data.n_users - 1):
        user = str(data.user_ids[u])
        mine = set(data.item_ids[items[indptr[u]:indptr[u + 1]]])
        found, where = seen_items(path, data.fingerprint, data.n_users, data.n_items, u)
        assert where == side and set(data.item_ids[found]) == mine
        a = rec(capsys, path, "--user", user, "--n", 12)
        b = rec(capsys, path, "--user", user, "--n", 12, "--data", plays)
        assert a["excluded"] == {"source": "seen-file", "path": str(side), "n_items": len(mine)}
        assert b["excluded"]["source"] == "data" and b["excluded"]["n_items"] == len(mine)
        assert a["results"] == b["results"] and not mine & {r["id"] for r in a["results"]}
    # a second model of the same data in the folder shares the file
    save_model(model_of(data), tmp_path / "models" / "m2.npz", data=data)
    assert list((tmp_path / "models").glob("seen-*")) == [side]
    capsys.readouterr()
    assert main(["recommend", str(path), "--user", str(data.user_ids[0])]) == 0
    assert f"from the seen-items file {side}" in capsys.readouterr().err


def test_model_without_seen_file_recommends_as_before(tmp_path, plays, capsys):
    data = load_dataset(plays)
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    seen_path(path, data.fingerprint).unlink()
    user = str(data.user_ids[5])
    a = rec(capsys, path, "--user", user, "--n", 80)
    assert a["excluded"] == {"source": "none", "path": None, "n_items": 0}
    assert len(a["results"]) == data.n_items          # nothing left out
    b = rec(capsys, path, "--user", user, "--n", 80, "--data", plays)
    assert b["excluded"]["source"] == "data" and len(b["results"]) < data.n_items
    capsys.readouterr()
    assert main(["recommend", str(path), "--user", user]) == 0
    assert "excluded nothing" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["garbage", "truncated", "bytes", "other data"])
def test_damaged_seen_file_is_an_error_naming_it(tmp_path, plays, capsys, damage):
    data = load_dataset(plays)
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    side = seen_path(path, data.fingerprint)
    raw = side.read_bytes()
    if damage == "garbage":
        side.write_bytes(b"not a zip at all" * 10)
    elif damage == "truncated":
        side.write_bytes(raw[: len(raw) // 2])
    elif damage == "bytes":       # the indptr's values overwritten: offsets out of order
        at = raw.index(b"indptr.npy")
        side.write_bytes(raw[:at + 300] + b"\x7f" * 64 + raw[at + 364:])
    else:                         # the seen file of another dataset under this name
        other = data.subset(np.arange(len(data)) % 2 == 0)
        other_side = save_model(model_of(data), tmp_path / "o" / "m.npz", data=other)
        side.write_bytes(seen_path(other_side, other.fingerprint).read_bytes())
    with pytest.raises(ModelFileError, match=str(side)):
        seen_items(path, data.fingerprint, data.n_users, data.n_items, 1)
    capsys.readouterr()
    assert main(["recommend", str(path), "--user", str(data.user_ids[1])]) == 2
    err = capsys.readouterr().err
    assert str(side) in err and "internal error" not in err and "--data" in err
    assert rec(capsys, path, "--user", str(data.user_ids[1]), "--data", plays)["results"]


def test_a_few_ids_are_looked_up_as_text_like_many():
    from mfcore.cli.evaluate import lookup

    for known in (np.array([10, 7, 3, 70]), np.array(["a", "b", "7", "07"], dtype=object)):
        raw = ["7", "07", "b", "x", "70"]
        few = [int(lookup(known, [r])[0]) for r in raw]
        assert few == lookup(known, raw * 2).tolist()[:5]     # 10 ids: the hash-index path
    assert lookup(np.array([10, 7, 3]), ["7", "07", "x"]).tolist() == [1, -1, -1]


def test_the_seen_file_of_prepared_rows_is_that_of_the_rows_as_loaded(tmp_path, plays):
    # The dashboard and the CLI save with the prepared rows, kept as the split arranged them.
    from mfcore.prepare import prepare
    data = load_dataset(plays)
    shown = prepare(data).display
    assert shown.runs and shown.fingerprint == data.fingerprint
    a = save_model(model_of(data), tmp_path / "a" / "m.npz", data=data)
    b = save_model(model_of(data), tmp_path / "b" / "m.npz", data=shown)
    for u in range(data.n_users):
        mine, _ = seen_items(a, data.fingerprint, data.n_users, data.n_items, u)
        theirs, _ = seen_items(b, data.fingerprint, data.n_users, data.n_items, u)
        assert sorted(mine) == sorted(theirs) and len(mine)


@pytest.mark.parametrize("block", [1, 7, 1 << 16])
def test_the_seen_file_of_rows_in_runs_is_written_a_block_of_users_at_a_time(tmp_path, plays,
                                                                             monkeypatch, block):
    # Streamed, it holds exactly what grouping all the rows at once gives (and np.savez writes).
    import zipfile

    from mfcore import seen
    from mfcore.prepare import prepare
    from mfcore.rowgroup import grouped
    monkeypatch.setattr(seen, "USERS_PER_BLOCK", block)
    shown = prepare(load_dataset(plays)).display
    assert len(shown.runs) > 2
    path = seen.write_seen(tmp_path / "m.npz", shown)
    indptr = np.zeros(shown.n_users + 1, np.int64)
    np.cumsum(shown.user_counts(), out=indptr[1:])
    want = grouped(shown.users, indptr, shown.items)[0]
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["indptr"], indptr)
        np.testing.assert_array_equal(z["items"], want)
        assert z["items"].dtype == np.int32
    with zipfile.ZipFile(path) as zf:  # stored members, as the seen-file reader maps them
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    for u in (0, 5, shown.n_users - 1):
        mine, _ = seen.seen_items(tmp_path / "m.npz", shown.fingerprint, shown.n_users,
                                  shown.n_items, u)
        np.testing.assert_array_equal(mine, want[indptr[u]:indptr[u + 1]])
