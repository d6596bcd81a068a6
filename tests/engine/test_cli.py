"""The command line: the documented forms work, and every failure is one line on stderr."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mfcore.cli import EXIT_DIVERGED, main
from mfcore.runstore import RunHistory

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {"history", "train_rmse", "val_rmse", "val_mae", "status", "fit_seconds", "n_users",
            "n_items", "n_train", "n_val", "precision_at_k", "recall_at_k", "eval_seconds"}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mfcore", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def triplets(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "plays.tsv"
    assert main(["generate", str(path), "--users", "300", "--items", "150",
                 "--interactions", "6000", "--seed", "3"]) == 0
    return path


def test_documented_train_command_prints_json_last(triplets):
    res = run_cli("train", str(triplets), "--format", "triplets", "--factors", "100", "--epochs",
                  "3", "--lr", "0.005", "--reg", "0.02", "--split", "random", "--val-frac", "0.2",
                  "--seed", "0", "--threads", "1", "--k", "10", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert REQUIRED <= out.keys()
    assert out["status"] == "fitted" and len(out["history"]) == 3
    assert {"epoch", "loss", "train_rmse", "val_rmse", "seconds"} <= out["history"][0].keys()
    assert out["n_train"] + out["n_val"] == 6000 or out["n_train"] + out["n_val"] > 5500
    assert 0 <= out["precision_at_k"] <= 1 and 0 <= out["recall_at_k"] <= 1
    assert "epoch   1" in res.stderr  # progress goes to stderr


def test_train_then_evaluate_and_recommend(triplets, tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert main(["train", str(triplets), "--factors", "8", "--epochs", "2", "--quiet",
                 "--model-out", str(model), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert model.exists() and trained["model_path"] == str(model)

    assert main(["evaluate", str(model), str(triplets), "--k", "5", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["k"] == 5 and "precision_at_k" in ev and "rmse" in ev

    user = triplets.read_text().split("\t", 1)[0]
    assert main(["recommend", str(model), "--user", user, "--n", "4", "--data", str(triplets),
                 "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(rec["results"]) == 4
    seen = {line.split("\t")[1] for line in triplets.read_text().splitlines()
            if line.startswith(user + "\t")}
    assert not seen & {r["id"] for r in rec["results"]}

    songs = [r["id"] for r in rec["results"][:2]]
    assert main(["recommend", str(model), "--items", ",".join(songs), "--n", "3", "--json"]) == 0
    folded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(folded["results"]) == 3 and not set(songs) & {r["id"] for r in folded["results"]}


def test_synthetic_data_needs_no_file(capsys):
    assert main(["train", "synthetic", "--factors", "4", "--epochs", "1", "--quiet",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_users"] > 0 and out["status"] == "fitted"


def test_divergence_is_reported_and_exits_3(capsys):
    assert main(["train", "synthetic", "--solver", "sgd", "--factors", "8", "--epochs", "3",
                 "--lr", "80", "--quiet", "--json"]) == EXIT_DIVERGED == 3
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "diverged" and out["diverged_at"]["epoch"] == 1
    run = RunHistory().get_run(out["run_id"])  # still recorded, as diverged
    assert run["status"] == "diverged"


def test_diverged_run_exits_nonzero_from_the_shell():
    res = run_cli("train", "synthetic", "--solver", "sgd", "--factors", "8", "--epochs", "2",
                  "--lr", "80", "--quiet", "--no-history")
    assert res.returncode == 3, res.stderr
    assert "status=diverged" in res.stdout and "try a smaller --lr" in res.stderr
    assert "Exit status" in run_cli("train", "--help").stdout


def test_play_counts_are_log1p_by_default_so_sgd_on_them_trains(shared_data, capsys):
    readme = ["train", str(shared_data / "msd_taste_subset" / "10000.txt"), "--format",
              "triplets", "--solver", "sgd", "--factors", "100", "--epochs", "20", "--lr",
              "0.005", "--reg",
              "0.02", "--seed", "0", "--threads", "1", "--quiet", "--json", "--no-history"]
    assert main(readme + ["--transform", "none"]) == EXIT_DIVERGED  # raw counts blow up
    capsys.readouterr()
    assert main(readme) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "fitted" and out["data"]["prepare"]["transform"] == "log1p"
    assert out["data"]["value_max"] > 10  # the record describes the counts as loaded


@pytest.mark.parametrize("args, needle", [
    (["train", "synthetic", "--lr", "abc"], "--lr"),
    (["train", "synthetic", "--factors", "0"], "--factors"),
    (["train", "synthetic", "--val-frac", "1.5"], "--val-frac"),
    (["train", "synthetic", "--split", "sideways"], "--split"),
    (["train", "/nonexistent/plays.tsv"], "plays.tsv"),
    (["recommend", "/nonexistent/model.npz", "--user", "x"], "model.npz"),
    (["frobnicate"], "frobnicate"),
])
def test_bad_arguments_exit_nonzero_with_one_line(args, needle):
    res = run_cli(*args)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert needle in lines[0] and "Traceback" not in res.stderr


def test_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("u1\ts1\t3\nu2\ts2\tlots\n")
    res = run_cli("train", str(bad), "--format", "triplets")
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert "bad.tsv" in res.stderr and "line 2" in res.stderr


@pytest.mark.parametrize("command", ["generate", "train", "evaluate", "recommend", "sweep"])
def test_every_subcommand_has_help(command):
    res = run_cli(command, "--help")
    assert res.returncode == 0 and "usage:" in res.stdout


def test_train_is_recorded_in_the_run_history_unless_told_not_to(capsys):
    before = len(RunHistory().list_runs())
    assert main(["train", "synthetic", "--factors", "3", "--epochs", "2", "--quiet",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = RunHistory().get_run(out["run_id"])
    assert len(RunHistory().list_runs()) == before + 1
    assert len(run["history"]) == 2 and run["params"]["factors"] == 3
    assert main(["train", "synthetic", "--factors", "3", "--epochs", "1", "--quiet",
                 "--no-history"]) == 0
    assert len(RunHistory().list_runs()) == before + 1


def test_unusable_history_file_fails_before_training(tmp_path):
    bad = tmp_path / "runs.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    res = run_cli("train", "synthetic", "--epochs", "1", "--history-db", str(bad))
    assert res.returncode == 2 and "runs.sqlite" in res.stderr
    assert "epoch" not in res.stderr


def test_runs_command_has_full_control_over_every_run(tmp_path, capsys):
    from mfcore.load.synthetic import generate
    from mfcore.prepare import prepare
    from mfcore.runs import score_run
    from mfcore.train import MFModel

    db = tmp_path / "runs.sqlite"
    prepared = prepare(generate(60, 40, 600, seed=1))
    model = MFModel(factors=4, epochs=1).fit(prepared.train, prepared.val)
    session = RunHistory(db, owner="session:abc").record(score_run(model, prepared),
                                                         source="app")
    mine = RunHistory(db).record(score_run(model, prepared), source="cli")
    capsys.readouterr()
    assert main(["runs", "--history-db", str(db), "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["runs"]
    assert [r["id"] for r in listed] == [mine, session]
    assert listed[1]["owner"] == "session:abc" and listed[0]["solver"] == "als"
    assert main(["runs", "--history-db", str(db), "list", "--mine", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out.splitlines()[-1])["runs"]] == [
        mine]
    # a browser session's run: the command line may annotate and delete it
    assert main(["runs", "--history-db", str(db), "note", str(session), "kept for the demo"]) == 0
    assert main(["runs", "--history-db", str(db), "tag", str(session), "demo, als"]) == 0
    run = RunHistory(db).get_run(session)
    assert (run["note"], run["tags"]) == ("kept for the demo", "demo, als")
    assert main(["runs", "--history-db", str(db), "export", str(tmp_path / "runs.csv")]) == 0
    assert "neg_ratio" in (tmp_path / "runs.csv").read_text().splitlines()[0]
    assert main(["runs", "--history-db", str(db), "delete", str(session), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["deleted"] == 1
    assert main(["runs", "--history-db", str(db), "tag", str(mine), "x" * 41]) == 2
    assert "longer than 40 characters" in capsys.readouterr().err


def test_remap_onto_a_model_keeps_each_rows_time():
    import numpy as np
    from mfcore.cli.evaluate import remap
    from mfcore.interactions import Interactions
    data = Interactions.from_raw(["a", "a", "b", "c"], ["x", "y", "x", "y"],
                                 [1.0, 2.0, 3.0, 4.0], times=[10.0, 20.0, 30.0, 40.0])
    got = remap(data, np.array(["c", "a"], dtype=object), np.array(["y", "x"], dtype=object))
    assert len(got) == 3 and got.times.tolist() == [10.0, 20.0, 40.0]  # b is unknown
    assert [("ca"[u], "yx"[i]) for u, i in zip(got.users, got.items)] == [
        ("a", "x"), ("a", "y"), ("c", "y")]


@pytest.mark.parametrize("definition", ["favourites", "heldout"])
def test_train_ranks_as_the_dashboard_prepares_whatever_the_definition(triplets, capsys,
                                                                       definition):
    # The command line keeps one values array, except for favourites: they rank each user's
    # items by the values as loaded (with --transform binary the kept ones are all 1).
    from mfcore.load import load_dataset
    from mfcore.prepare import PrepOptions, prepare
    from mfcore.runs import ranking_metrics
    from mfcore.train import MFModel
    assert main(["train", str(triplets), "--transform", "binary", "--definition", definition,
                 "--k", "5", "--factors", "6", "--epochs", "2", "--threads", "1", "--seed", "2",
                 "--solver", "als", "--no-history", "--quiet", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    shown = prepare(load_dataset(triplets), PrepOptions(transform="binary", seed=2))
    model = MFModel(factors=6, epochs=2, threads=1, seed=2, solver="als").fit(shown.train,
                                                                              shown.val)
    mine = ranking_metrics(model, shown, k=5, definition=definition)
    assert (cli["precision_at_k"], cli["ndcg_at_k"]) == (mine["precision_at_k"],
                                                         mine["ndcg_at_k"])
