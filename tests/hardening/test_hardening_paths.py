"""Server paths are confined to the data folder, checked on the resolved real path: every
traversal attempt is refused (by the check and through the Data page) and files inside load."""
from __future__ import annotations

import os

import pytest

from mfcore.errors import DataError
from ui.datafolder import list_data_files, resolve_in_data_dir
from ui.testing import assert_clean, open_app, wait_for_load

TRIPLETS = "".join(f"user{u}\tSONG{(u * 7 + j) % 40:03d}\t{1 + (u + j) % 5}\n"
                   for u in range(30) for j in range(6))


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """data/ (the data folder) beside data_secret/ and a file outside both."""
    data, secret = tmp_path / "data", tmp_path / "data_secret"
    (data / "sub").mkdir(parents=True)
    secret.mkdir()
    (data / "plays.tsv").write_text(TRIPLETS)
    (data / "sub" / "more.tsv").write_text(TRIPLETS)
    (secret / "secret.tsv").write_text(TRIPLETS)
    (tmp_path / "outside.tsv").write_text(TRIPLETS)
    (data / "inner_link.tsv").symlink_to("plays.tsv")             # inside -> inside: fine
    (data / "inner_dir").symlink_to("sub")                        # folder link inside: fine
    (data / "escape.tsv").symlink_to(secret / "secret.tsv")       # file link leaving
    (data / "secret_dir").symlink_to(secret)                      # folder link leaving
    (data / "rel_escape.tsv").symlink_to("../outside.tsv")        # relative link leaving
    (data / "passwd").symlink_to("/etc/passwd")
    (data / "loop_a").symlink_to("loop_b")
    (data / "loop_b").symlink_to("loop_a")
    (data / "sub" / "up").symlink_to("..")                        # a cycle, but inside
    monkeypatch.setenv("MFX_DATA_DIR", str(data))
    return data


def attempts(data) -> list[str]:
    secret = data.parent / "data_secret"
    return [
        "../data_secret/secret.tsv", "./../data_secret/secret.tsv", "sub/../../outside.tsv",
        "sub/../../data_secret/secret.tsv", "../data_secret", "..", "../", "../../../../etc/passwd",
        str(secret / "secret.tsv"), str(secret), str(data.parent / "outside.tsv"),
        f"{data}/../data_secret/secret.tsv", f"{data}_secret/secret.tsv", "/etc/passwd", "/",
        "~", "~/.bashrc", "~root/.ssh/id_rsa", "escape.tsv", "secret_dir/secret.tsv",
        "secret_dir", "inner_dir/../secret_dir/secret.tsv", "rel_escape.tsv", "passwd",
        "sub/up/../../outside.tsv", "loop_a", "plays.tsv\x00", "\x00/etc/passwd",
        "a" * 300, "sub/" + "b" * 256, "x/" * 2000, " ../data_secret/secret.tsv ",
        "....//....//etc/passwd", "%2e%2e/data_secret/secret.tsv", "..\\data_secret",
        "file:///etc/passwd", "", "   ",
    ]


LEGIT = ["plays.tsv", "./plays.tsv", "sub/more.tsv", "sub/../plays.tsv", "inner_link.tsv",
         "inner_dir/more.tsv", "sub/up/plays.tsv", " plays.tsv "]


def test_every_traversal_attempt_is_refused(tree):
    refused = []
    for path in attempts(tree):
        with pytest.raises(DataError) as info:
            resolve_in_data_dir(path, tree)
        refused.append(path)
        assert len(str(info.value)) < 400  # a long name is not echoed whole
    assert len(refused) == len(attempts(tree))  # 100 %


def test_legitimate_files_inside_are_accepted(tree):
    real = tree.resolve()
    for path in LEGIT + [str(tree / "plays.tsv"), str(tree / "inner_link.tsv")]:
        got = resolve_in_data_dir(path, tree)
        assert got.is_relative_to(real) and got.is_file(), path
    assert resolve_in_data_dir("inner_link.tsv", tree) == real / "plays.tsv"
    listed = list_data_files(tree)
    assert "plays.tsv" in listed and "inner_link.tsv" in listed and "sub/more.tsv" in listed
    assert not {"escape.tsv", "rel_escape.tsv", "passwd"} & set(listed)
    assert not any(p.startswith(("secret_dir", "loop_")) for p in listed)


def test_attempts_through_the_data_page(tree):
    at = open_app("data")
    prepared = at.session_state["prepared"]
    for path in attempts(tree):
        at.text_input(key="w_server_path").set_value(path)
        at.run()
        btn = at.button(key="btn_server")
        if btn.disabled:  # an empty path cannot even be submitted
            assert not path.strip()
            continue
        btn.click().run()
        wait_for_load(at)
        assert_clean(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and errors[0].startswith("Could not load"), (path, errors)
        assert at.session_state["prepared"] is prepared, path
    at.text_input(key="w_server_path").set_value("inner_dir/more.tsv")
    at.run()
    at.button(key="btn_server").click().run()
    wait_for_load(at)
    assert not at.error and at.session_state["raw"].n_users == 30
    assert os.path.realpath(at.session_state["raw"].source).startswith(str(tree.resolve()))
