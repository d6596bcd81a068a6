"""MSD taste-profile triplets: ``user_id<TAB>song_id<TAB>play_count``, plain or gzip.

The file is parsed by pyarrow's streaming CSV reader with both id columns dictionary-encoded
(see :mod:`mfcore.load._delim`), so the full 48M-line file needs little more memory than its
final arrays and no Python object per row. ``max_rows`` stops reading after that many data rows
(the rest of the file is never parsed). Parsed files of 16 MiB or more are cached on disk
(:mod:`mfcore.load.cache`).

Rules
-----
- Exactly three tab-separated fields a line; blank lines are ignored; ``\\r\\n`` is accepted.
- Header: with ``header='auto'`` a first line whose third field is not a number is skipped as a
  header when the next line's third field is one (``user_id\\tsong_id\\tplay_count``); otherwise
  it is an error on line 1. ``header=True`` always skips the first line, ``False`` never does.
- Play counts must be finite and ``>= 0``; zero counts are kept as rows with value 0 (filter
  them in ``prepare`` if unwanted). Counts become float32; a count beyond float32's range is
  refused.
- Ids must be non-empty UTF-8 without NUL bytes. Song ids are stored sorted, user ids in order
  of first appearance (so a file grouped by user, each user's songs in order, needs no sort).
"""
from __future__ import annotations


from ..errors import DataError
from ..interactions import Interactions
from . import cache as _cache
from ._delim import read_delimited
from ._rows import DelimSpec, check_row, first_lines, is_number
from ._io import DEFAULT_MAX_DECOMPRESSED_BYTES, Source, content_head, resolve

NAMES = ["user_id", "song_id", "play_count"]


def load_triplets(source: Source, *, max_rows: int | None = None, duplicates: str = "sum",
                  header: bool | str = "auto", cache_dir=None, use_cache: bool | str = "auto",
                  max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                  progress=None) -> Interactions:
    """Load an MSD-style triplets file.

    Parameters
    ----------
    source : path or (name, bytes)
        A ``.txt``/``.tsv`` file, optionally gzip-compressed, or an upload.
    max_rows : int, optional
        Read only the first ``max_rows`` data rows (the notebooks' ``DATASET_MAX_SIZE``).
    duplicates : {'sum', 'max', 'last', 'first', 'error'}
        What to do with repeated (user, song) rows.
    header : {'auto', True, False}
        Whether the first line is a header (see the module docstring).
    cache_dir, use_cache
        Where and whether to cache the parsed file (see :mod:`mfcore.load.cache`).
    max_decompressed_bytes : int
        Refuse a compressed file once it expands beyond this many bytes.
    progress : callable(fraction, message), optional

    Returns
    -------
    Interactions
        ``extra`` holds ``format``, ``header_skipped``, ``truncated`` (``max_rows`` cut rows off)
        and ``from_cache``.

    Raises
    ------
    DataError
        Naming the file, the 1-based line and the field for any malformed input.
    """
    info = resolve(source)
    if info.is_dir:
        raise DataError("is a folder; expected a triplets file", source=info.name)
    if max_rows is not None and (int(max_rows) != max_rows or max_rows < 1):
        raise DataError(f"max_rows must be a positive integer, got {max_rows!r}", source=info.name)
    if header not in ("auto", True, False):
        raise DataError(f"header must be 'auto', True or False, got {header!r}", source=info.name)
    options = {"max_rows": max_rows, "duplicates": duplicates, "header": header}

    def build() -> Interactions:
        head = content_head(info, max_decompressed_bytes=max_decompressed_bytes)
        spec = triplets_spec(info.name, head, header)
        parsed = read_delimited(info, spec, max_rows=max_rows, progress=progress, head=head,
                                max_decompressed_bytes=max_decompressed_bytes)
        if progress is not None:
            progress(0.96, "merging duplicates and sorting")
        data = Interactions.from_codes(parsed.users, parsed.items, parsed.values, parsed.user_ids,
                                       parsed.item_ids, duplicates=duplicates, source=info.name,
                                       implicit=False)
        data.extra.update(format="triplets", header_skipped=spec.skip_rows > 0,
                          truncated=parsed.truncated, rows_read=parsed.n_rows)
        return data

    data = _cache.cached_load(info, "triplets", options, build, cache_dir=cache_dir,
                              use_cache=use_cache, progress=progress)
    if progress is not None:
        progress(1.0, f"loaded {len(data):,} rows")
    return data


def triplets_spec(name: str, head: bytes, header: bool | str = "auto") -> DelimSpec:
    """Decide how to read a triplets file from its first bytes (header or not)."""
    lines = first_lines(head, name, n=3)
    if not lines:
        raise DataError("the file is empty; expected user_id<TAB>song_id<TAB>play_count lines",
                        source=name)
    spec = DelimSpec("\t", 3, 0, 1, 2, names=list(NAMES), value_what="play count")
    lineno, text = lines[0]
    fields = text.split("\t")
    if header is True:
        skip = lineno
    elif header is False:
        skip = 0
    elif len(fields) == 3 and not is_number(fields[2]) and (
            len(lines) == 1 or (len(lines[1][1].split("\t")) == 3
                                and is_number(lines[1][1].split("\t")[2]))):
        skip = lineno
    else:
        skip = 0
    if skip:
        spec.skip_rows = skip
        spec.header = tuple(fields)
        if len(fields) == 3 and all(f.strip() for f in fields):
            spec.names = [f.strip() for f in fields]
        if len(lines) == 1:
            raise DataError("only a header line, no data rows", source=name, line=lineno)
    else:
        err = check_row(text, spec, name, lineno)
        if err is not None:
            raise err
    return spec


__all__ = ["load_triplets", "triplets_spec"]
