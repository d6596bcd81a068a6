"""Ranking while training: the probe scores its fixed sample exactly as the evaluation code does."""
import numpy as np

from mfcore.evaluate.folded import evaluate_folded
from mfcore.evaluate.ranking import evaluate_ranking
from mfcore.load.synthetic import generate
from mfcore.split import holdout_split, user_split
from mfcore.train import MFModel
from mfcore.train.monitor import RankingProbe

FIGURES = ("precision", "recall", "ndcg")


def test_probe_scores_its_sample_as_evaluate_ranking_does_on_the_whole_data():
    data = generate(300, 200, 6_000, shape="playlist", seed=3)
    sp = holdout_split(data, frac=0.2, seed=0)
    model = MFModel(factors=8, epochs=3, eval_sample=0).fit(sp.train)
    probe = RankingProbe(sp.train, sp.val, k=10, sample=50, seed=4, threads=1)
    assert len(probe) == 50 and not probe.fold
    assert np.array_equal(probe.users, RankingProbe(sp.train, sp.val, k=10, sample=50, seed=4,
                                                    threads=1).users)  # seeded, fixed
    # The probe keeps only its sample's rows; the figures are those of the whole data.
    assert len(probe.train) < len(sp.train) and len(probe.val) < len(sp.val)
    got = probe.measure(model)
    want = evaluate_ranking(model, sp.train, sp.val, k=10, subjects=probe.users)
    assert want.n_evaluated == 50
    assert all(got[f] == getattr(want, f) for f in FIGURES) and got["eval_seconds"] >= 0


def test_probe_folds_in_the_users_of_a_split_by_user():
    data = generate(300, 200, 6_000, shape="playlist", seed=3)
    sp = user_split(data, val_frac=0.3, test_frac=0.0, seed=0)
    model = MFModel(factors=8, epochs=3, eval_sample=0).fit(sp.train)
    probe = RankingProbe(sp.train, sp.val, k=10, sample=40, seed=4, threads=1)
    assert probe.fold and len(probe) == 40
    got = probe.measure(model)
    sample = sp.val.subset(np.isin(sp.val.users, probe.users))
    want = evaluate_folded(model, sp.train, sample, k=10, seed=4)
    assert all(got[f] == getattr(want, f) for f in FIGURES)
