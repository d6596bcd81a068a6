"""Loading interactions from files: one module per format, one entry point.

Sources
-------
Every loader takes a *source*: a path (``str`` or ``os.PathLike``: a file, or a folder of MPD
slices), or, for browser uploads, a ``(name, data)`` tuple of the upload's file name and its raw
bytes. The name drives format detection and error messages exactly as a path would::

    load_dataset("train_triplets.txt.gz", max_rows=1_000_000)
    load_dataset(("my ratings.csv", uploaded_bytes), user_col="userId", item_col="movieId",
                 value_col="rating")

Uploads are never written to disk and never cached.

Formats
-------
``triplets`` (:mod:`.triplets`), ``csv``/``tsv``/``parquet`` (:mod:`.tabular`), ``sqlite``
(:mod:`.sqlite`), ``mpd`` (:mod:`.mpd`), ``synthetic`` (:mod:`.synthetic`). Item metadata:
:mod:`.metadata`; parsed-file cache: :mod:`.cache`. Every user-caused problem is a
:class:`~mfcore.errors.DataError` naming the file, the line (or row / playlist) and the field; a
load either returns a complete :class:`~mfcore.interactions.Interactions` or raises.
"""
from __future__ import annotations

import math

from ..errors import ConfigError, DataError
from ..interactions import Interactions
from ._io import (DEFAULT_MAX_DECOMPRESSED_BYTES, GZIP_MAGIC, PARQUET_MAGIC, SQLITE_MAGIC,
                  UTF8_BOM, Source, check_text_head, content_head, is_tar_header, looks_like_tar,
                  resolve)

FORMATS = ("triplets", "csv", "tsv", "parquet", "mpd", "sqlite", "synthetic")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".db3")


def detect_format(source: Source) -> str:
    """The format of a file, folder or ``(name, bytes)`` upload: one of :data:`FORMATS`.

    Magic bytes first (SQLite header, ``PAR1``, gzip — then the decompressed content, a tar
    header), then the name's suffix, then a sniff of the first lines: JSON -> ``mpd``; three
    tab-separated fields ending in a number -> ``triplets``; other tab-separated -> ``tsv``;
    comma / semicolon / pipe, or MovieLens' ``::`` -> ``csv``.

    Raises
    ------
    DataError
        Empty or unrecognisable content, a suffix that contradicts the content, or a folder
        without MPD slices.
    """
    from .mpd import SLICE_GLOB

    info = resolve(source)
    if info.is_dir:
        if any(info.path.glob(SLICE_GLOB)):
            return "mpd"
        raise DataError(f"a folder can only be read as Spotify MPD slices ({SLICE_GLOB}); none "
                        f"found", source=info.name)
    head = info.head(4096)
    name = info.lower_name
    if not head:
        raise DataError("the file is empty", source=info.name)
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if name.endswith(_PARQUET_SUFFIXES):
        raise DataError(f"named like a Parquet file but it does not start with b'PAR1' (it "
                        f"starts with {head[:8]!r})", source=info.name)
    if name.endswith(_SQLITE_SUFFIXES):
        raise DataError(f"named like a SQLite database but it does not start with the SQLite "
                        f"header (it starts with {head[:16]!r})", source=info.name)
    if head.startswith(GZIP_MAGIC):
        if looks_like_tar(info):
            return "mpd"
        inner = content_head(info, 65536)
        inner_name = name[:-3] if name.endswith(".gz") else name
        return _detect_text(inner, inner_name, info.name)
    if name.endswith((".gz", ".tgz")):
        raise DataError(f"the name says gzip but the file is not gzip-compressed (it starts with "
                        f"{head[:4]!r})", source=info.name)
    if name.endswith(".tar") or is_tar_header(head):
        return "mpd"
    return _detect_text(info.head(65536), name, info.name)


def _detect_text(content: bytes, name: str, display: str) -> str:
    from ._rows import first_lines, is_number

    check_text_head(content, display)
    body = content[len(UTF8_BOM):] if content.startswith(UTF8_BOM) else content
    stripped = body.lstrip()
    if not stripped:
        raise DataError("the file is empty (or only whitespace)", source=display)
    if name.endswith(".json") or stripped[:1] in (b"{", b"["):
        return "mpd"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".tsv"):
        return "tsv"
    nul = body.find(b"\x00", 0, 4096)
    if nul >= 0:
        line = body.count(b"\n", 0, nul) + 1
        raise DataError(f"NUL byte at byte {nul + 1:,} of the file: binary content of an unknown "
                        "format; expected text triplets, CSV/TSV, Parquet, SQLite or MPD JSON",
                        source=display, line=line)
    lines = first_lines(content, display, n=3)
    if not lines:
        raise DataError("the file is empty (or only whitespace)", source=display)
    text = lines[0][1]
    if "\t" in text:
        rows = [t.split("\t") for _, t in lines]
        if all(len(r) == 3 for r in rows) and (
                is_number(rows[0][2]) or (len(rows) > 1 and is_number(rows[1][2]))):
            return "triplets"
        return "tsv"
    if any(d in text for d in (",", ";", "|", "::")):
        return "csv"  # '::' is MovieLens' .dat layout, which the CSV reader takes too
    raise DataError("cannot tell the format from the name or the first line; expected "
                    "user<TAB>item<TAB>count triplets, CSV/TSV (also '::'-separated), Parquet, "
                    "SQLite or MPD JSON; choose the format explicitly", source=display,
                    line=lines[0][0])


def load_dataset(source: Source, format: str | None = None, *, max_rows: int | None = None,
                 duplicates: str = "sum", user_col=None, item_col=None, value_col=None,
                 time_col=None, table: str | None = None, max_playlists: int | None = None, metadata=None,
                 cache_dir=None, progress=None, use_cache: bool | str = "auto",
                 header: bool | str = "auto", delimiter: str | None = None,
                 max_decompressed_bytes: int | None = None, timeout_s: float = 30.0,
                 allow_negative: bool = False, synthetic: dict | None = None,
                 confine_to=None) -> Interactions:
    """Load a dataset in any supported format.

    Parameters
    ----------
    source : path or (name, bytes)
        A file, a folder of MPD slices, or an upload (see the module docstring). For
        ``format='synthetic'`` it is ignored (``"synthetic"`` by convention).
    format : str, optional
        One of :data:`FORMATS`; detected by :func:`detect_format` when omitted. A ``triplets``
        file with ``user_col``/``item_col``/``value_col`` given is read as ``tsv``.
    max_rows : int, optional
        Read only the first rows (whole playlists for ``mpd``).
    duplicates : {'sum', 'max', 'last', 'first', 'error'}
        What to do with repeated (user, item) rows.
    user_col, item_col, value_col
        Column names or positions (CSV/TSV/Parquet, SQLite).
    time_col
        CSV/TSV: the column of each row's time, kept as ``Interactions.times`` (found by name
        or MovieLens' layout when None; ``False``: none). See :mod:`.tabular`.
    table : str, optional
        SQLite table or view.
    max_playlists : int, optional
        ``mpd``: stop after this many playlists; ``sqlite``: keep the N smallest user ids.
    metadata : path, (name, bytes) or DataFrame, optional
        Item metadata joined for display (:func:`mfcore.load.metadata.attach_metadata`).
    cache_dir, use_cache
        Parsed-file cache (:mod:`mfcore.load.cache`): folder (default ``$MFCORE_CACHE_DIR`` or
        ``~/.cache/mfcore``) and ``'auto'`` (files of 16 MiB or more) / True / False.
    progress : callable(fraction, message), optional
    header, delimiter
        CSV/TSV (and ``header`` for triplets).
    max_decompressed_bytes : int, optional
        Cap on decompressed bytes (default 20 GiB; 64 GiB for MPD archives).
    timeout_s : float
        SQLite query deadline.
    allow_negative : bool
        Accept negative values (CSV/TSV/Parquet/SQLite); play counts never are.
    synthetic : dict, optional
        Keyword arguments of :func:`mfcore.load.synthetic.generate`.
    confine_to : path, optional
        A folder (the dashboard's data folder) that every file read — the source, each slice
        of an MPD folder, the metadata file — must lie in, checked on its resolved real path;
        None: anywhere. FIFOs, devices and sockets are refused in any case.

    Returns
    -------
    Interactions
        ``extra['format']`` names the format read; ``extra['from_cache']`` says whether the
        parsed cache served it.
    """
    _check_limits(timeout_s, max_rows=max_rows, max_playlists=max_playlists,
                  max_decompressed_bytes=max_decompressed_bytes)
    if format is None and isinstance(source, str) and source.split(":", 1)[0] == "synthetic":
        format = "synthetic"
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    if format == "synthetic":
        from .synthetic import generate
        kw = dict(synthetic or {})
        if isinstance(source, str) and ":" in source and "shape" not in kw:
            kw["shape"] = source.split(":", 1)[1]
        data = generate(**kw)
        data.extra.setdefault("format", "synthetic")
        return _with_metadata(data, metadata, {}, confine_to)
    info = resolve(source, confine_to)
    format = _checked_format(info, format, (user_col, item_col, value_col), time_col, table,
                             max_playlists)
    cap = {} if max_decompressed_bytes is None else {
        "max_decompressed_bytes": int(max_decompressed_bytes)}
    common = dict(duplicates=duplicates, progress=progress)
    if format == "triplets":
        from .triplets import load_triplets
        data = load_triplets(info, max_rows=max_rows, header=header, cache_dir=cache_dir,
                             use_cache=use_cache, **cap, **common)
    elif format in ("csv", "tsv", "parquet"):
        from .tabular import load_table
        data = load_table(info, format=format, user_col=user_col, item_col=item_col,
                          value_col=value_col, time_col=time_col, header=header, delimiter=delimiter,
                          max_rows=max_rows, allow_negative=allow_negative, cache_dir=cache_dir,
                          use_cache=use_cache, **cap, **common)
    elif format == "sqlite":
        from .sqlite import load_sqlite
        data = load_sqlite(info, table=table, user_col=user_col, item_col=item_col,
                           value_col=value_col, max_users=max_playlists, max_rows=max_rows,
                           timeout_s=timeout_s, allow_negative=allow_negative, **common)
    else:  # mpd
        from .mpd import load_mpd
        data = load_mpd(info, max_playlists=max_playlists, max_rows=max_rows,
                        cache_dir=cache_dir, use_cache=use_cache, **cap, **common)
    return _with_metadata(data, metadata, cap, confine_to)


#: Largest count any limit may be: what a 64-bit signed integer holds.
INT64_MAX = 2**63 - 1


def _checked_format(info, format: str | None, columns: tuple, time_col, table,
                    max_playlists) -> str:
    """The format to read ``info`` as, after checking the options given apply to it."""
    if format is None:
        format = detect_format(info)
    cols_given = any(c is not None for c in columns)
    if format == "triplets" and (cols_given or time_col not in (None, False)):
        format = "tsv"
    if time_col not in (None, False) and format not in ("csv", "tsv"):
        raise ConfigError(f"a time column is read from CSV/TSV files only, not {format}")
    if table is not None and format != "sqlite":
        raise ConfigError(f"a table ({table!r}) only applies to SQLite files, not {format}")
    if format == "mpd" and cols_given:
        raise ConfigError("MPD slices have fixed columns (pid, track_uri): user, item and "
                          "value columns do not apply")
    if max_playlists is not None and format not in ("mpd", "sqlite"):
        raise ConfigError(f"max_playlists only applies to MPD and SQLite data, not {format}")
    return format


def _check_limits(timeout_s, **limits) -> None:
    """Refuse a row / playlist / byte limit that is not a whole number in [1, 2**63 - 1], and a
    deadline that is not a finite number of seconds > 0."""
    if not (isinstance(timeout_s, (int, float)) and not isinstance(timeout_s, bool)
            and math.isfinite(timeout_s) and timeout_s > 0):
        raise ConfigError(f"timeout_s must be a finite number of seconds > 0, got {timeout_s!r}")
    for name, v in limits.items():
        if v is None:
            continue
        ok = isinstance(v, int) and not isinstance(v, bool) or (
            hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu")
        if not ok or not 1 <= int(v) <= INT64_MAX:
            raise ConfigError(f"{name} must be a whole number between 1 and {INT64_MAX:,} "
                              f"(2**63 - 1), got {v!r}")


def _with_metadata(data: Interactions, metadata, cap: dict, confine_to) -> Interactions:
    if metadata is None:
        return data
    from .metadata import attach_metadata, load_metadata
    import pandas as pd
    meta = metadata if isinstance(metadata, pd.DataFrame) else load_metadata(
        metadata, confine_to=confine_to, **cap)
    return attach_metadata(data, meta)


__all__ = ["FORMATS", "INT64_MAX", "detect_format", "load_dataset",
           "DEFAULT_MAX_DECOMPRESSED_BYTES"]
