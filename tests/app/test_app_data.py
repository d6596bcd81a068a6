"""Data page: the built-in dataset, uploads, server files inside the data folder only."""
from __future__ import annotations

import gzip
import os

import pytest

from mfcore.errors import DataError
from ui.datafolder import list_data_files, resolve_in_data_dir
from ui.testing import assert_clean, open_app, wait_for_load


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def click(at, label: str) -> None:
    next(b for b in at.button if b.label == label).click().run()
    wait_for_load(at)  # loads run in the background (a no-op for other buttons)
    assert_clean(at)


TRIPLETS = "".join(f"user{u}\tSONG{(u * 7 + j) % 40:03d}\t{1 + (u + j) % 5}\n"
                   for u in range(30) for j in range(6))


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    (root / "plays.tsv").write_text(TRIPLETS)
    secret = tmp_path / "data_secret"
    secret.mkdir()
    (secret / "secret.tsv").write_text(TRIPLETS)
    (root / "escape.tsv").symlink_to(secret / "secret.tsv")
    monkeypatch.setenv("MFX_DATA_DIR", str(root))
    return root


def test_builtin_dataset_is_loaded_and_described():
    at = open_app("data")
    m = metrics(at)
    assert m["Users"] == "3,000" and m["Songs"] == "1,500"
    assert m["Interactions"].replace(",", "").isdigit() and m["Density"].endswith("%")
    assert "Duplicates merged" in m
    assert len(at.get("plotly_chart")) == 2  # play-count distribution and long tail
    preview = at.dataframe[0].value
    assert {"user", "song id", "title", "artist", "plays"} <= set(preview.columns)
    text = " ".join(x.value for x in at.markdown)
    assert "latent factors" in text and "training needs about" in text


def test_preparation_filters_and_split_apply():
    at = open_app("data")
    at.number_input(key="f_min_user").set_value(20)
    at.selectbox(key="f_split").set_value("none")
    click(at, "Apply")
    m = metrics(at)
    assert int(m["Users"].replace(",", "")) < 3000
    assert "validation rows **0**" in " ".join(x.value for x in at.markdown)
    assert at.session_state["prepared"].val is None


def test_the_session_holds_the_rows_once_and_can_always_prepare_them_again():
    at = open_app("data")
    at.file_uploader(key="w_upload").set_value(
        ("plays.tsv.gz", gzip.compress(TRIPLETS.encode()), "application/gzip"))
    at.run()
    click(at, "Load upload")
    ss = at.session_state
    first = ss["prepared"]
    # No filter: the loaded rows are kept only as the prepared ones (arranged by the split).
    assert ss["raw"] is first.display and first.display.runs
    at.number_input(key="f_min_item").set_value(5)
    click(at, "Apply")
    assert ss["prepared"].info["rows_removed_by_filters"] > 0
    assert ss["raw"] is not ss["prepared"].display  # filtered: the loaded rows stay whole
    assert len(ss["raw"]) == len(first.display) == 180
    at.number_input(key="f_min_item").set_value(1)
    click(at, "Apply")
    again = ss["prepared"]
    assert again.fingerprint == first.fingerprint
    assert (again.train.users == first.train.users).all()
    assert (again.train.items == first.train.items).all()


def test_bad_upload_shows_error_and_keeps_dataset():
    at = open_app("data")
    before = at.session_state["prepared"]
    at.file_uploader(key="w_upload").set_value(
        ("broken.tsv", b"u1\tsong1\t3\nu2\tsong2\tnot-a-number\n", "text/tab-separated-values"))
    at.run()
    click(at, "Load upload")
    errors = [e.value for e in at.error]
    assert errors and errors[0].startswith("Could not load broken.tsv")
    assert at.session_state["prepared"] is before
    assert metrics(at)["Users"] == "3,000"


def test_good_upload_replaces_dataset():
    other = open_app("data")
    at = open_app("data")
    at.file_uploader(key="w_upload").set_value(
        ("plays.tsv.gz", gzip.compress(TRIPLETS.encode()), "application/gzip"))
    at.run()
    click(at, "Load upload")
    assert not at.error, [e.value for e in at.error]
    m = metrics(at)
    assert m["Users"] == "30" and m["Items"] == "40"  # values 1–5: read as ratings
    other.run()
    assert metrics(other)["Users"] == "3,000"  # another session keeps its own data


@pytest.mark.parametrize("path", ["../data_secret/secret.tsv", "escape.tsv", "SECRET_ABS"])
def test_server_path_outside_data_folder_is_refused(data_folder, path):
    if path == "SECRET_ABS":
        path = str(data_folder.parent / "data_secret" / "secret.tsv")
    at = open_app("data")
    at.text_input(key="w_server_path").input(path)
    at.run()
    click(at, "Load from server")
    errors = " ".join(e.value for e in at.error)
    assert "outside the data folder" in errors
    assert metrics(at)["Users"] == "3,000"  # the dataset stays


def test_server_file_inside_data_folder_loads(data_folder):
    at = open_app("data")
    assert "plays.tsv" in at.selectbox(key="w_server_pick").options
    at.text_input(key="w_server_path").input("plays.tsv")
    at.run()
    click(at, "Load from server")
    assert not at.error, [e.value for e in at.error]
    assert metrics(at)["Users"] == "30"


def test_builtin_playlist_shape_is_implicit():
    at = open_app("data")
    at.number_input(key="w_builtin_n_users").set_value(300)
    at.number_input(key="w_builtin_n_items").set_value(200)
    at.number_input(key="w_builtin_n_interactions").set_value(5000)
    at.selectbox(key="w_builtin_shape").set_value("playlist")
    at.run()
    click(at, "Generate and load")
    assert not at.error
    assert at.session_state["prepared"].display.implicit
    assert metrics(at)["Users"] == "300"


# ---- the data-folder check on its own ----------------------------------------------------------
def test_resolve_in_data_dir(data_folder):
    assert resolve_in_data_dir("plays.tsv", data_folder) == (data_folder / "plays.tsv").resolve()
    assert resolve_in_data_dir(str(data_folder / "plays.tsv"), data_folder).name == "plays.tsv"
    for bad in ("../data_secret/secret.tsv", "escape.tsv", "./../data_secret",
                str(data_folder.parent / "data_secret" / "secret.tsv"), "/etc/passwd", ""):
        with pytest.raises(DataError):
            resolve_in_data_dir(bad, data_folder)
    with pytest.raises(DataError, match="no such file"):
        resolve_in_data_dir("missing.tsv", data_folder)
    files = list_data_files(data_folder)
    assert files == ["plays.tsv"]  # the link that leaves the folder is never offered


def test_missing_data_folder_is_explained(tmp_path):
    with pytest.raises(DataError, match="MFX_DATA_DIR"):
        resolve_in_data_dir("x.tsv", tmp_path / "nope")
    assert list_data_files(tmp_path / "nope") == []
    assert os.path.isdir(tmp_path)


def test_the_preview_shows_the_first_rows_as_loaded():
    from mfcore.load.synthetic import generate
    from mfcore.prepare import prepare
    from ui.dataview import first_rows
    raw = generate(200, 150, 4_000, shape="msd", seed=3)
    shown = prepare(raw).display  # arranged train | validation
    assert shown.runs and shown.users[150] != raw.users[150]
    for n in (1, 150, 10_000):
        rows = first_rows(shown, n)
        assert len(rows) == min(n, len(raw))
        assert (shown.users[rows] == raw.users[:n]).all()
        assert (shown.items[rows] == raw.items[:n]).all()
        assert (shown.values[rows] == raw.values[:n]).all()
