"""The server's data folder and the limits on what the Data page loads (no Streamlit import).

Files are read from the server only inside ``$MFX_DATA_DIR`` (default ``./data``), checked on
their resolved path; uploads are capped by ``$MFX_MAX_DECOMPRESSED_MB`` and SQLite reads by
``$MFX_QUERY_TIMEOUT_S``.
"""
from __future__ import annotations

import math
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mfcore.errors import DataError
from mfcore.interactions import Interactions

APP_ROOT = Path(__file__).resolve().parents[1]
#: The suffixes of the files the data folder's list offers (MPD folders are offered too).
SERVER_SUFFIXES = (".tsv", ".txt", ".csv", ".gz", ".tgz", ".parquet", ".pq", ".json", ".sqlite",
                   ".db", ".db3", ".sqlite3", ".data", ".dat")


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
    time_col: str | None = None
    table: str | None = None
    max_decompressed_bytes: int = field(default_factory=max_decompressed_bytes)
    timeout_s: float = field(default_factory=query_timeout_s)

    def kwargs(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "format" and v not in (None, "")}
        return out


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
