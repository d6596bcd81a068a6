"""One user's recommendations read straight from the model file (mfcore.userrec): the same list,
text and JSON as from the whole model, and every damage in what it reads refused."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from factories import make_model
from mfcore.cli import main
from mfcore.errors import MFError, ModelFileError
from mfcore.interactions import Interactions
from mfcore.modelio import load_model, save_model
from mfcore.recommend import recommend
from mfcore.seen import seen_items
from mfcore.userrec import recommend_from_file

USERS = ["ada", "bo", "çé-ü", "d" * 40, "7", "07", "ünï ✓"]
ITEMS = [f"SO{i:03d}" for i in range(30)] + ["ÿ", "x y", "SO0001"]


def dataset(users=USERS, items=ITEMS, seed=0) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = {(u, items[i]) for u in users for i in rng.choice(len(items), 5, replace=False)}
    u, i = zip(*sorted(rows))
    return Interactions.from_raw(np.array(u, dtype=object), np.array(i, dtype=object),
                                 np.ones(len(u), np.float32))


def model_of(data, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(data.n_users, 4))
    Q = rng.integers(-1, 2, (data.n_items, 4)).astype(float) if ties else \
        rng.normal(size=(data.n_items, 4))
    return make_model(P, Q, bi=rng.integers(0, 2, data.n_items).astype(float))


def expected(path, user: str, n: int) -> tuple[list, dict]:
    """The rows and `excluded` the whole-model path gives (load_model, recommend, seen file)."""
    model, meta = load_model(path)
    u = [str(x) for x in meta["user_ids"]].index(user)
    found = seen_items(path, model.data_fingerprint_, model.n_users_, model.n_items_, u)
    idx, scores = recommend(model, u, n=n, exclude=None if found is None else found[0])
    rows = [{"id": str(meta["item_ids"][i]), "index": int(i), "score": float(s)}
            for i, s in zip(idx, scores)]
    excluded = ({"source": "none", "path": None, "n_items": 0} if found is None else
                {"source": "seen-file", "path": str(found[1]), "n_items": len(found[0])})
    return rows, excluded


def cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["recommend", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("ties", [False, True])
def test_the_list_text_and_json_are_those_of_the_whole_model(tmp_path, capsys, ties):
    data = dataset()
    with_seen = save_model(model_of(data, ties=ties), tmp_path / "a" / "m.npz", data=data)
    bare = save_model(model_of(data, 1, ties), tmp_path / "b" / "m.npz", data=data)
    next((tmp_path / "b").glob("seen-*.npz")).unlink()
    for path in (with_seen, bare):
        for user in USERS:
            for n in (1, 3, len(ITEMS), 100):
                rows, excluded = expected(path, user, n)
                code, out, _ = cli(capsys, path, "--user", user, "--n", n, "--json")
                assert code == 0 and json.loads(out.strip().splitlines()[-1]) == {
                    "kind": "items", "results": rows, "excluded": excluded}
            code, out, err = cli(capsys, path, "--user", user, "--n", 5)
            assert out == "".join(f"{r['id']}\t{r['score']:.4f}\n" for r in rows[:5])
            assert ("excluded nothing" in err) == (excluded["source"] == "none")


def test_integer_ids_are_found_as_text(tmp_path, capsys):
    data = Interactions.from_raw(np.array([10, 7, 7, 3, 70]), np.array([5, 6, 7, 5, 8]))
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    for user in ("7", "70", "3"):
        code, out, _ = cli(capsys, path, "--user", user, "--json")
        assert code == 0 and json.loads(out)["results"] == expected(path, user, 10)[0]
    for user in ("07", "7.0", "+7", "x", str(2**70)):
        with pytest.raises(MFError, match="unknown user id"):
            recommend_from_file(path, user)


def test_a_compressed_model_and_a_version_1_model_give_the_same_list(tmp_path, capsys):
    data = dataset()
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    want = expected(path, "bo", 4)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, **arrays)
    found = recommend_from_file(packed, "bo", 4)
    assert [{"id": i, "index": int(x), "score": float(s)} for i, x, s in
            zip(found.item_ids, found.items, found.scores)] == want[0]
    assert str(found.seen_path) == want[1]["path"] and len(found.seen) == want[1]["n_items"]
    meta = json.loads(str(arrays.pop("meta_json")))
    meta.update(format_version=1)
    old = tmp_path / "old.npz"
    np.savez(old, **{k: v for k, v in arrays.items() if not k.endswith("_ids_offsets")
                     and not k.endswith("_ids_data")}, user_ids=data.user_ids.astype(str),
             item_ids=data.item_ids.astype(str), meta_json=np.array(json.dumps(meta)))
    assert recommend_from_file(old, "bo", 4) is None  # left to load_model ...
    code, out, _ = cli(capsys, old, "--user", "bo", "--n", 4, "--json")
    assert code == 0 and json.loads(out)["results"] == want[0]  # ... which the CLI then runs


def rewrite(path, **arrays):
    """The model file at ``path`` with members replaced (uncompressed, as mfcore writes)."""
    with np.load(path) as z:
        current = {k: z[k] for k in z.files}
    current.update(arrays)
    with open(path, "wb") as f:
        np.savez(f, **current)


@pytest.mark.parametrize("damage, member", [
    ("nan in the user's row", "user_factors"), ("inf in the user's bias", "user_bias"),
    ("nan in an item's factors", "item_factors"), ("inf in an item's bias", "item_bias"),
    ("nan global mean", "global_mean"), ("the user's id twice", "user_ids"),
    ("an item id of bad UTF-8", "item_ids"), ("user id offsets decrease", "user_ids"),
    ("object (pickled) item factors", "item_factors"), ("float16 ids", "item_ids"),
])
def test_what_it_reads_is_checked(tmp_path, damage, member):
    data = dataset()
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    u = list(data.user_ids).index("bo")
    with np.load(path) as z:
        a = {k: z[k].copy() for k in z.files}
    if damage == "nan in the user's row":
        a["user_factors"][u, 2] = np.nan
    elif damage == "inf in the user's bias":
        a["user_bias"][u] = np.inf
    elif damage == "nan in an item's factors":
        a["item_factors"][-1, 0] = np.nan
    elif damage == "inf in an item's bias":
        a["item_bias"][3] = -np.inf
    elif damage == "nan global mean":
        a["global_mean"] = np.array(np.nan)
    elif damage == "the user's id twice":  # 'ada' renamed 'bo'
        offs, text = a["user_ids_offsets"], a["user_ids_data"].tobytes()
        a["user_ids_data"] = np.frombuffer(b"bo" + text[offs[1]:], np.uint8)
        a["user_ids_offsets"] = np.concatenate([[0], offs[1:] - (offs[1] - 2)]).astype(np.int32)
    elif damage == "an item id of bad UTF-8":
        a["item_ids_data"][:] = 0xFF
    elif damage == "user id offsets decrease":
        a["user_ids_offsets"][2] = a["user_ids_offsets"][3] + 1
    elif damage == "object (pickled) item factors":
        a["item_factors"] = a["item_factors"].astype(object)
    else:
        a["item_ids_offsets"] = a["item_ids_offsets"].astype(np.float16)
    with open(path, "wb") as f:
        np.savez(f, **a)
    with pytest.raises(ModelFileError) as err:
        recommend_from_file(path, "bo", n=len(ITEMS))
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and repr(member) in msg.replace('"', "'"), msg
    with pytest.raises(ModelFileError):  # the whole model is refused as well
        load_model(path)


def test_a_truncated_or_bombed_file_is_refused_naming_it(tmp_path):
    data = dataset()
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    blob = path.read_bytes()
    for cut in (10, len(blob) // 3, len(blob) // 2, len(blob) - 30):
        path.write_bytes(blob[:cut])
        with pytest.raises(ModelFileError, match=f"^{path}: "):
            recommend_from_file(path, "bo")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            bomb = info.filename == "item_bias.npy"
            buf = io.BytesIO()
            np.save(buf, np.zeros(4 << 20, np.float32))
            dst.writestr(info.filename, buf.getvalue() if bomb else src.read(info),
                         compress_type=zipfile.ZIP_DEFLATED if bomb else zipfile.ZIP_STORED)
    path.write_bytes(out.getvalue())
    with pytest.raises(ModelFileError, match=f"^{path}: member 'item_bias' would expand"):
        recommend_from_file(path, "bo")


def test_what_the_cli_says_of_unknown_users_and_models_without_ids(tmp_path, capsys):
    data = dataset()
    path = save_model(model_of(data), tmp_path / "m.npz", data=data)
    code, _, err = cli(capsys, path, "--user", "nobody")
    assert code == 2 and "unknown user id 'nobody'" in err
    bare = save_model(model_of(data), tmp_path / "bare.npz")
    code, _, err = cli(capsys, bare, "--user", "bo")
    assert code == 2 and err.startswith(f"python -m mfcore recommend: error: {bare}: the model "
                                        "was saved without its data's user")
    side = next(tmp_path.glob("seen-*.npz"))
    side.write_bytes(b"not a zip" * 20)
    code, _, err = cli(capsys, path, "--user", "bo")
    assert code == 2 and err.startswith(f"python -m mfcore recommend: error: {side}: damaged")
    with pytest.raises(MFError, match="n must be"):
        recommend_from_file(path, "bo", n=0)


def test_find_text_finds_whole_ids_only_and_every_repeat():
    from mfcore.idcodec import find_text, pack_strings, text_at

    ids = [f"user{i:05d}" for i in range(3000)] + ["ab", "b", "user00007", "ünï", ""]
    packed: dict = {}
    pack_strings(ids, "u", packed)
    offs, data = packed["u_offsets"], packed["u_data"]
    for raw in ("user00042", "user02999", "ab", "b", "ünï", "", "user00007", "ser00042",
                "user0004", "user000420", "x", "\udcff"):
        want = [i for i, x in enumerate(ids) if x == raw]
        assert find_text(offs, data, raw).tolist() == want, raw
    assert [text_at(offs, data, i, "u") for i in (0, 3003, 3004)] == ["user00000", "ünï", ""]
