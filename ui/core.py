"""Plain-Python helpers behind the pages (no Streamlit import: testable on their own).

Everything numerical the pages need and the engine does not offer (the 2-D map of the song
factors, memory and time estimates, the data-folder check) lives here, not in ``pages/``.
"""
from __future__ import annotations

import math
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mfcore.errors import DataError
from mfcore.interactions import Interactions

APP_ROOT = Path(__file__).resolve().parents[1]

# The built-in dataset: big enough to look like listening data, small enough to train in seconds.
BUILTIN = dict(n_users=3000, n_items=1500, n_interactions=100_000, shape="msd", seed=0)

SERVER_SUFFIXES = (".tsv", ".txt", ".csv", ".gz", ".tgz", ".parquet", ".pq", ".json", ".sqlite",
                   ".db", ".db3", ".sqlite3", ".data", ".dat")
FORMAT_LABELS = {
    None: "Detect from the file",
    "triplets": "MSD triplets (user, song, count; tab-separated, .gz too)",
    "csv": "CSV with named columns",
    "tsv": "TSV with named columns",
    "parquet": "Parquet",
    "mpd": "Spotify MPD slice (JSON)",
    "sqlite": "SQLite database",
}


# ---- data folder ------------------------------------------------------------------------------
def data_dir() -> Path:
    """The folder server-side files may be read from: ``$MFX_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("MFX_DATA_DIR") or (APP_ROOT / "data")).expanduser()


def resolve_in_data_dir(user_path: str, root: Path | None = None) -> Path:
    """The real path of ``user_path`` (relative to the data folder, or absolute) if it is inside.

    The check is made on the *resolved* path, so ``..``, symbolic links that leave the folder and
    sibling folders such as ``data_secret`` are all refused.

    Raises
    ------
    DataError
        When the path is empty, missing, or outside the data folder.
    """
    root = (root or data_dir())
    text = (user_path or "").strip()
    if not text:
        raise DataError("enter a path inside the data folder")
    if "\x00" in text:
        raise DataError("the path contains a NUL character", source=repr(text[:80]))
    if len(text) > 1024 or any(len(part) > 255 for part in Path(text).parts):
        raise DataError("the path is too long (at most 1,024 characters, 255 per name)",
                        source=text[:60] + "…")
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError):
        raise DataError(f"the data folder {root} does not exist; set MFX_DATA_DIR to a folder "
                        "that holds your datasets") from None
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = real_root / candidate
    try:
        real = candidate.resolve(strict=False)
    except (OSError, RuntimeError):
        raise DataError("the path cannot be resolved (a symbolic link loop?)", source=text) from None
    if real != real_root and not real.is_relative_to(real_root):
        raise DataError(f"refused: the path is outside the data folder {real_root} "
                        "(only files inside it can be read from the server)", source=text)
    try:
        mode = real.stat().st_mode
    except FileNotFoundError:
        raise DataError("no such file or folder in the data folder", source=text) from None
    except OSError as exc:  # e.g. a name the file system refuses
        raise DataError(f"the path cannot be used ({exc.strerror or exc})", source=text) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO would block the loader
        raise DataError("refused: not a regular file or a folder (a FIFO, a device or a "
                        "socket?)", source=text)
    return real


def list_data_files(root: Path | None = None, limit: int = 500) -> list[str]:
    """Loadable files and MPD folders under the data folder, relative to it, sorted."""
    root = root or data_dir()
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError):
        return []
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(real_root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        if any(f.endswith(".json") for f in filenames) and base != real_root:
            found.append(str(base.relative_to(real_root)) + "/")
        for f in sorted(filenames):
            if f.startswith(".") or not f.lower().endswith(SERVER_SUFFIXES):
                continue
            full = base / f
            try:
                if not full.resolve().is_relative_to(real_root) or not full.is_file():
                    continue  # a link pointing outside, a FIFO, a device: never offer it
            except (OSError, RuntimeError):
                continue
            found.append(str(full.relative_to(real_root)))
            if len(found) >= limit:
                return found
    return found


# ---- loading ----------------------------------------------------------------------------------
def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if math.isfinite(value) and value > 0 else default


def max_decompressed_bytes() -> int:
    """Cap on bytes a compressed upload may expand to: ``$MFX_MAX_DECOMPRESSED_MB`` (default
    4096 MiB, above the full MSD triplets file). A gzip bomb is refused while it expands, long
    before it could fill the server's memory."""
    return min(int(_env_number("MFX_MAX_DECOMPRESSED_MB", 4096) * 2**20), 2**63 - 1)


def query_timeout_s() -> float:
    """Deadline of a SQLite read from the Data page: ``$MFX_QUERY_TIMEOUT_S`` (default 30 s)."""
    return _env_number("MFX_QUERY_TIMEOUT_S", 30.0)


@dataclass
class LoadOptions:
    """What the Data page passes to the loader (the two limits come from the environment)."""

    format: str | None = None
    max_rows: int | None = None
    duplicates: str = "sum"
    user_col: str | None = None
    item_col: str | None = None
    value_col: str | None = None
    table: str | None = None
    max_decompressed_bytes: int = field(default_factory=max_decompressed_bytes)
    timeout_s: float = field(default_factory=query_timeout_s)

    def kwargs(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "format" and v not in (None, "")}
        return out


def builtin_dataset(**overrides: Any) -> Interactions:
    """The synthetic listening dataset every session starts with."""
    from mfcore.load.synthetic import generate
    params = {**BUILTIN, **overrides}
    n_users, n_items, n = params.pop("n_users"), params.pop("n_items"), params.pop("n_interactions")
    return generate(n_users, n_items, n, **params)


def load_path(path: Path, opts: LoadOptions, metadata=None,
              progress: Callable[[float, str], None] | None = None) -> Interactions:
    """Load a server-side file (already checked against the data folder).

    Every file the loader opens for it (an MPD folder's slices, the metadata file) is confined
    to the data folder too, on its real path. Files the administrator put in the data folder
    keep the engine's decompression cap (the full MPD archive expands to ~33 GB); only uploads
    get ``$MFX_MAX_DECOMPRESSED_MB``.
    """
    from mfcore.load import load_dataset
    kwargs = opts.kwargs()
    kwargs.pop("max_decompressed_bytes", None)
    return load_dataset(str(path), opts.format, metadata=metadata, progress=progress,
                        confine_to=data_dir(), **kwargs)


def load_upload(name: str, payload: bytes, opts: LoadOptions, metadata=None,
                progress: Callable[[float, str], None] | None = None) -> Interactions:
    """Load an uploaded file from memory (the loaders accept ``(name, bytes)``)."""
    from mfcore.load import load_dataset
    return load_dataset((Path(name).name or "upload", payload), opts.format, metadata=metadata,
                        progress=progress, **opts.kwargs())


# ---- preparation and split (the pipeline itself is mfcore.prepare) ------------------------------
SPLIT_LABELS = {
    "random": "Random: a fraction of all plays to validation",
    "holdout": "Per-user hold-out: a fraction of each user's songs to validation",
    "none": "No split: train on everything (no validation RMSE, no held-out metrics)",
}
TRANSFORM_LABELS = {
    "auto": "automatic: log(1 + count) for play counts, none for ratings and implicit data",
    "log1p": "log(1 + count): tames heavy play counts (recommended for play counts)",
    "none": "none: train on the raw values",
    "standardize": "standardize: (value − mean) / std",
    "binary": "binary: every observed pair is 1 (implicit)",
}


# ---- estimates and formatting -------------------------------------------------------------------
def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def human_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = max(0.0, float(s))
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def human_rate(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "–"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= div:
            return f"{r / div:.2f} {unit}"
    return f"{r:.0f}"


def training_eta(history: list, total_epochs: int) -> float | None:
    """Seconds left, from the mean duration of the epochs so far."""
    if not history:
        return None
    done = len(history)
    per_epoch = sum(h.seconds for h in history) / done
    return max(0, total_epochs - done) * per_epoch


# ---- song map -----------------------------------------------------------------------------------
def item_map_2d(item_factors: np.ndarray, max_points: int | None = None,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project song factors on their first two principal components (numpy SVD).

    Parameters
    ----------
    item_factors : (n_items, k) array
    max_points : int, optional
        Keep only this many songs, the heaviest by ``weights`` (e.g. popularity) first.
    weights : (n_items,) array, optional

    Returns
    -------
    idx : indices of the songs kept, coords : (len(idx), 2), explained : (2,) variance share
    """
    Q = np.asarray(item_factors, dtype=np.float64)
    n = Q.shape[0]
    idx = np.arange(n)
    if max_points is not None and n > max_points:
        order = np.argsort(-weights, kind="stable") if weights is not None else idx
        idx = np.sort(order[:max_points])
    X = Q - Q.mean(axis=0)
    if X.shape[1] == 1:
        coords = np.column_stack([X[:, 0], np.zeros(n)])
        return idx, coords[idx], np.array([1.0, 0.0])
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    coords = X @ vt[:2].T
    var = s ** 2
    explained = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    # Fix the sign of each axis so that the map does not flip between runs.
    signs = np.sign(coords[np.argmax(np.abs(coords), axis=0), [0, 1]])
    coords = coords * np.where(signs == 0, 1, signs)
    return idx, coords[idx], explained

