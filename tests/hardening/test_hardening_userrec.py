"""Every hostile model file of the catalogue (tests/hardening/test_hardening_inputs.py) through
``recommend MODEL --user`` without --data, which reads the file in part (mfcore.userrec): a
one-line error naming the file and what is wrong, never an internal error or a hang."""
from __future__ import annotations

import threading

import pytest

from mfcore.cli import main
from test_hardening_inputs import CASES

MODEL_CASES = [pytest.param(c, id=c.name) for c in CASES if c.entry == "model"]


@pytest.mark.parametrize("case", MODEL_CASES)
def test_recommend_for_a_user_refuses_every_hostile_model(case, tmp_path, capsys):
    if case.disk is not None:
        path, _, shown = case.disk(tmp_path)
    else:
        path = tmp_path / case.filename
        path.write_bytes(case.build())
        shown = str(path)
    out = {}
    worker = threading.Thread(target=lambda: out.update(
        code=main(["recommend", str(path), "--user", "u0", "--n", "10"])), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "recommend blocked (was a FIFO opened?)"
    err = capsys.readouterr().err
    assert out["code"] == 2, err
    assert err.startswith(f"python -m mfcore recommend: error: {shown}"), err
    for word in case.words:
        assert word in err, err
    assert err.count("\n") == 1 and len(err) < 700, err


def test_the_catalogue_has_the_model_cases():
    assert len(MODEL_CASES) >= 20
