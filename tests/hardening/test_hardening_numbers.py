"""Numbers beyond their type, hardening round two: every integer argument of the CLI past int64,
every float past float32, learning rates and init scales checked in float32, load limits past
int64, and duplicate sums that leave float32. Each is a one-line error naming the argument or
field; an ``OverflowError`` never escapes ("internal error")."""
from __future__ import annotations

import pytest

from mfcore.cli import main
from mfcore.errors import ConfigError, DataError
from mfcore.interactions import Interactions
from mfcore.load import load_dataset
from mfcore.train import MFModel

TRIPLETS = "".join(f"user{u}\tSONG{(u * 7 + j) % 40:03d}\t{1 + (u + j) % 5}\n"
                   for u in range(40) for j in range(6))
INT_ARGS = {
    "train": ("--max-rows", "--max-playlists", "--min-user-count", "--min-item-count",
              "--factors", "--epochs", "--seed", "--cg-steps", "--eval-k", "--eval-sample",
              "--patience", "--threads", "--k", "--sample"),
    "generate": ("--users", "--items", "--interactions", "--rank", "--seed"),
    "sweep": ("--trials", "--jobs", "--seed", "--max-rows", "--eval-sample", "--patience",
              "--threads", "--sample"),
}
FLOAT_ARGS = ("--lr", "--reg", "--init-std", "--alpha", "--neg-ratio", "--val-frac")


@pytest.fixture(scope="module")
def plays(tmp_path_factory):
    path = tmp_path_factory.mktemp("numbers") / "plays.tsv"
    path.write_text(TRIPLETS)
    return str(path)


def run(argv, capsys) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    return code, capsys.readouterr().err


def head(command: str, plays: str, tmp_path) -> list[str]:
    if command == "generate":
        return ["generate", str(tmp_path / "out.tsv")]
    return [command, plays, "--no-history"]


@pytest.mark.parametrize("value", [str(2**63), "1" + "0" * 30])
@pytest.mark.parametrize("command, arg", [(c, a) for c, args in INT_ARGS.items() for a in args])
def test_integers_beyond_int64_are_refused(command, arg, value, plays, tmp_path, capsys):
    code, err = run(head(command, plays, tmp_path) + [arg, value], capsys)
    assert code == 2 and "internal error" not in err, err
    assert arg in err and "9,223,372,036,854,775,807" in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("arg", FLOAT_ARGS)
@pytest.mark.parametrize("value", ["1e39", "1e400", "nan"])
def test_floats_beyond_float32_are_refused(arg, value, plays, tmp_path, capsys):
    code, err = run(["train", plays, "--no-history", arg, value], capsys)
    assert code == 2 and arg in err and "internal error" not in err, err


@pytest.mark.parametrize("argv, words", [
    (["--solver", "sgd", "--lr", "1e-50"], "lr 1e-50 is 0 in float32"),
    (["--solver", "sgd", "--init-std", "1e30"], "init_std 1e+30 is too large for float32"),
])
def test_hyperparameters_are_checked_in_float32(argv, words, plays, capsys):
    code, err = run(["train", plays, "--no-history", "--epochs", "1"] + argv, capsys)
    assert code == 2 and words in err and "epoch" not in err.split("error:")[0], err


def test_the_largest_int64_values_are_accepted_or_refused_by_range(plays, tmp_path, capsys):
    """At exactly 2**63 - 1 each argument either works or is refused by its own range."""
    big = str(2**63 - 1)
    for argv in (["train", plays, "--no-history", "--epochs", "1", "--quiet", "--max-rows", big],
                 ["train", plays, "--no-history", "--epochs", "1", "--quiet", "--seed", big],
                 ["train", plays, "--no-history", "--epochs", "1", "--quiet", "--k", big],
                 ["generate", str(tmp_path / "g.tsv"), "--users", big],
                 ["generate", str(tmp_path / "g.tsv"), "--rank", big]):
        code, err = run(argv, capsys)
        assert code in (0, 2) and "internal error" not in err, (argv, err)


def test_mfmodel_checks_lr_and_init_std_in_float32():
    with pytest.raises(ConfigError, match="is 0 in float32"):
        MFModel(factors=4, lr=1e-50, solver="sgd")
    with pytest.raises(ConfigError, match="between 0 and 3.403e"):
        MFModel(factors=4, reg=1e39)
    with pytest.raises(ConfigError, match="init_std .* too large for float32"):
        MFModel(factors=16, init_std=1e19)
    MFModel(factors=16, init_std=1e3, lr=1e-40, solver="sgd")  # small but representable: fine


def test_load_limits_beyond_int64_are_config_errors(tmp_path):
    path = tmp_path / "plays.tsv"
    path.write_text(TRIPLETS)
    for kw in ({"max_rows": 2**63}, {"max_rows": 1e30}, {"max_decompressed_bytes": 2**70},
               {"max_rows": True}, {"timeout_s": float("nan")}):
        with pytest.raises(ConfigError):
            load_dataset(path, **kw)
    assert len(load_dataset(path, max_rows=2**63 - 1)) == 240


def test_duplicate_sums_beyond_float32_are_caught_at_load():
    with pytest.raises(DataError, match=r"\(user 'a', item 'x'\) sum to 6e\+38"):
        Interactions.from_raw(["a", "a", "b"], ["x", "x", "y"], [3e38, 3e38, 1.0],
                              source="f.txt")
    ok = Interactions.from_raw(["a", "a", "b"], ["x", "x", "y"], [3e38, 3e38, 1.0],
                               duplicates="max")
    assert ok.values.max() == pytest.approx(3e38)
