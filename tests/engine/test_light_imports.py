"""The command line starts light: ``import mfcore``, ``import mfcore.cli`` and building the
parser import none of the heavy libraries (each costs tenths of a second per command)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "numba", "optuna", "distributed", "plotly", "streamlit")


def heavy_after(code: str) -> list[str]:
    """The heavy modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} " \
            "if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_building_the_parser_imports_no_heavy_library():
    assert heavy_after("import mfcore, mfcore.cli\nmfcore.cli.build_parser()") == []


def test_public_names_stay_importable_from_the_light_packages():
    code = ("from mfcore import Interactions\nfrom mfcore.train import MFModel, EpochStats, "
            "defaults\nfrom mfcore.tune import CLUSTER_ENV_VAR, SAMPLERS, SweepResult\n"
            "import mfcore.train, mfcore.tune\n"
            "assert Interactions.__module__ == 'mfcore.interactions'\n"
            "assert MFModel.__module__ == 'mfcore.train.model' and CLUSTER_ENV_VAR\n"
            "assert 'run_study' in dir(mfcore.tune) and 'warm_up' in dir(mfcore.train)\n"
            "try:\n    mfcore.train.nothing\nexcept AttributeError as e:\n"
            "    assert 'nothing' in str(e)\nelse:\n    raise SystemExit('no AttributeError')")
    assert "numba" in heavy_after(code)  # MFModel did import its kernels


def test_recommend_for_a_user_imports_neither_pandas_nor_numba(tmp_path):
    import numpy as np

    from factories import make_model
    from mfcore.interactions import Interactions
    from mfcore.modelio import save_model

    data = Interactions.from_raw(np.array(["a", "a", "b", "c"], dtype=object),
                                 np.array(["x", "y", "y", "z"], dtype=object))
    rng = np.random.default_rng(0)
    path = save_model(make_model(rng.normal(size=(3, 2)), rng.normal(size=(3, 2))),
                      tmp_path / "m.npz", data=data)
    code = (f"from mfcore.cli import main\nassert main(['recommend', {str(path)!r}, '--user', "
            "'a', '--json']) == 0")
    assert heavy_after(code) == []
    assert heavy_after(code.replace("'--json'", f"'--data', {str(tmp_path / 'x')!r}")
                       .replace("== 0", "== 2")) != []  # --data reads the data: pandas
