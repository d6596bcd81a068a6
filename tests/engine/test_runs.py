"""runs.fit_and_record: the one training run of the CLI's ``train`` and the Train page's job."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from mfcore.load.synthetic import generate
from mfcore.modelio import load_model
from mfcore.prepare import prepare
from mfcore.runs import fit_and_record, score_run
from mfcore.runstore import HistoryError, RunHistory
from mfcore.train import MFModel


@pytest.fixture(scope="module")
def prepared():
    return prepare(generate(200, 100, 3000, shape="ratings", seed=3))


def _model() -> MFModel:
    return MFModel(factors=4, epochs=3, lr=0.02, seed=1)


def test_the_run_is_fitted_scored_saved_and_recorded(prepared, tmp_path):
    history = RunHistory(tmp_path / "runs.sqlite")
    seen = []
    model = _model()
    run = fit_and_record(model, prepared, history=history, source="app", callback=seen.append)
    assert [s.epoch for s in seen] == [1, 2, 3] and model.status_ == "fitted"
    again = score_run(model, prepared, fit_seconds=run.record.fit_seconds)
    assert run.record == again  # the record score_run gives, nothing else
    stored = history.get_run(run.run_id)
    assert stored["source"] == "app" and stored["val_rmse"] == pytest.approx(again.val_rmse)
    assert stored["model_path"] == run.model_path and run.error is None
    assert run.model_path.startswith(str(history.models_dir))
    loaded, _ = load_model(run.model_path)
    np.testing.assert_array_equal(loaded.item_factors_, model.item_factors_)


def test_a_path_of_its_own_and_ranking(prepared, tmp_path):
    history = RunHistory(tmp_path / "runs.sqlite")
    out = tmp_path / "model.npz"
    run = fit_and_record(_model(), prepared, history=history, model_path=out, save_model=False,
                         k=5, extra={"load_seconds": 1.5})
    assert run.model_path == str(out) and out.exists()
    assert not history.models_dir.exists() or not any(history.models_dir.iterdir())
    assert run.record.k == 5 and run.record.precision_at_k is not None
    assert run.record.extra["load_seconds"] == 1.5
    assert history.get_run(run.run_id)["source"] == "cli"


def test_no_history_records_nothing_but_still_scores(prepared):
    run = fit_and_record(_model(), prepared)
    assert run.run_id is None and run.model_path is None
    assert run.record.status == "fitted" and run.record.val_rmse is not None


def test_cancelled_before_the_first_epoch_is_not_recorded(prepared, tmp_path):
    history = RunHistory(tmp_path / "runs.sqlite")
    cancel = threading.Event()
    cancel.set()
    model = _model()
    run = fit_and_record(model, prepared, history=history, cancel=cancel)
    assert model.status_ == "cancelled" and run.record is None and run.run_id is None
    assert len(history) == 0


def test_a_history_that_fails_is_raised_or_reported(prepared, tmp_path):
    class Broken(RunHistory):
        def record(self, *args, **kwargs):
            raise HistoryError("the disk is full")

    broken = Broken(tmp_path / "runs.sqlite")
    with pytest.raises(HistoryError, match="the disk is full"):
        fit_and_record(_model(), prepared, history=broken)
    model = _model()
    run = fit_and_record(model, prepared, history=broken, strict=False)
    assert isinstance(run.error, HistoryError) and run.run_id is None
    assert model.status_ == "fitted" and run.record is not None  # the model is kept
    # ... in the session, not as a file that no run row points at (found by review)
    assert run.model_path is None
    assert [p.name for p in broken.models_dir.glob("*.npz")] == \
        [p.name for p in broken.models_dir.glob("seen-*.npz")]  # only the data's seen file


def test_errors_of_fit_itself_are_always_raised(prepared, tmp_path):
    class Exploding(MFModel):
        def fit(self, *args, **kwargs):
            raise FloatingPointError("kernel exploded")

    history = RunHistory(tmp_path / "runs.sqlite")
    with pytest.raises(FloatingPointError, match="kernel exploded"):
        fit_and_record(Exploding(factors=4, epochs=2), prepared, history=history, strict=False)
    assert len(history) == 0


def test_training_figures_come_from_the_loop_not_a_second_pass(prepared, monkeypatch):
    import mfcore.evaluate.accuracy as accuracy
    scored = []
    real = accuracy.score_predictions
    monkeypatch.setattr(accuracy, "score_predictions",
                        lambda m, data, **kw: scored.append(len(data)) or real(m, data, **kw))
    model = MFModel(factors=4, epochs=6, lr=0.02, seed=1, early_stopping=True, patience=1,
                    monitor="val_rmse")
    model.fit(prepared.train, prepared.val)
    record = score_run(model, prepared)
    kept = next(h for h in model.history_ if h.epoch == model.best_epoch_)
    assert record.train_rmse == pytest.approx(kept.train_rmse)
    assert record.train_mae == pytest.approx(kept.train_mae)
    # the exact figures of the parameters kept, as a separate pass would give them
    full = real(model, prepared.train)
    assert record.train_rmse == pytest.approx(full["rmse"], rel=1e-4)
    assert record.train_mae == pytest.approx(full["mae"], rel=1e-4)
    assert scored == [len(prepared.val)]  # only the validation rows were scored


def test_an_als_run_has_no_rmse(prepared):
    model = MFModel(factors=4, epochs=2, solver="als").fit(prepared.train, prepared.val)
    record = score_run(model, prepared, k=5)
    assert record.train_rmse is record.val_rmse is record.val_mae is None
    assert record.precision_at_k is not None


def test_on_fitted_is_called_once_training_is_over_before_scoring(prepared, monkeypatch):
    import mfcore.runs as runs
    seen = []
    real = runs.score_run
    monkeypatch.setattr(runs, "score_run", lambda *a, **k: (seen.append("scored"),
                                                            real(*a, **k))[1])
    model = MFModel(factors=4, epochs=2, solver="sgd")
    fit_and_record(model, prepared, on_fitted=lambda: seen.append(("fitted", model.status_)))
    assert seen == [("fitted", "fitted"), "scored"]
