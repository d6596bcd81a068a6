"""The first compile of every kernel prints nothing to users (no numba warning on stderr)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
from mfcore.evaluate.ranking import evaluate_ranking
from mfcore.load.synthetic import generate
from mfcore.split import random_split
from mfcore.train import MFModel
sp = random_split(generate(200, 100, 3000, seed=1), val_frac=0.2, seed=0)
for solver in ("sgd", "als"):
    model = MFModel(factors=4, epochs=1, solver=solver).fit(sp.train, sp.val)
    evaluate_ranking(model, sp.train, sp.val, k=5)
print("compiled")
"""


def test_a_cold_compile_prints_no_warning(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path), "PYTHONWARNINGS": "always",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and "compiled" in proc.stdout, proc.stderr[-2000:]
    assert "Warning" not in proc.stderr, proc.stderr[-2000:]
