from __future__ import annotations

import os
from pathlib import Path

import pytest

from mfcore.load.synthetic import generate

_ENV = ("MFX_HISTORY_DB", "MFCORE_CACHE_DIR")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_history_and_data(tmp_path_factory):
    """Keep tests away from the user's run history, parse cache and data folder."""
    base = tmp_path_factory.mktemp("env")
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ["MFX_HISTORY_DB"] = str(base / "runs.sqlite")
    os.environ["MFCORE_CACHE_DIR"] = str(base / "cache")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public samples beside the repo; tests using them skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (real-data tests are optional)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def planted():
    """A small ratings-shaped dataset with a known rank-4 structure, and its truth."""
    return generate(400, 300, 24_000, rank=4, shape="ratings", noise=0.1, seed=1,
                    return_truth=True)


@pytest.fixture(scope="session")
def msd_small():
    return generate(300, 200, 6_000, shape="msd", seed=2)
