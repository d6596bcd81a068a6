from __future__ import annotations

from pathlib import Path

import pytest

from mfcore.load.synthetic import generate

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
