"""Model files of the run store under the dashboard's keep-models policy (:mod:`mfcore.modelkeep`):
pruning a session's older Train-page files and pinning runs (:class:`ModelFiles`, which
:class:`~mfcore.runstore.RunHistory` extends, giving it ``owner`` and ``models_dir``)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable

from .errors import ConfigError
from .runstore_db import RunDatabase
from .seen import unused_seen_files

__all__ = ["ModelFiles"]


class ModelFiles(RunDatabase):
    """Pruning and pinning the runs' model files."""

    def prune_models(self, keep: int, *, owner: str | None = None) -> list[int]:
        """Keep the model files of ``owner``'s ``keep`` newest Train-page runs; delete older ones.

        Counted and deleted are only runs of source ``'app'`` made by ``owner`` (default
        :attr:`owner`) whose file lies in :attr:`models_dir` and is not pinned
        (:meth:`pin_models`); runs of the command line, of sweeps and of other owners are never
        touched. A deleted file's run stays, with ``model_path`` cleared and ``model_state``
        ``'pruned'``.

        Parameters
        ----------
        keep : int
            How many files to keep, ≥ 0.

        Returns
        -------
        list of int
            The runs whose files were deleted, newest first.
        """
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ConfigError(f"keep must be a whole number >= 0 (model files to keep), "
                              f"got {keep!r}")
        owner = self.owner if owner is None else owner
        folder = self.models_dir.resolve()
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, model_path FROM runs WHERE owner = ? AND source = 'app' AND "
                "model_path IS NOT NULL AND model_state IS NULL ORDER BY id DESC",
                (owner,)).fetchall()
            doomed = [(i, p) for i, p in rows if Path(p).resolve().parent == folder][keep:]
            conn.executemany("UPDATE runs SET model_path = NULL, model_state = 'pruned' "
                             "WHERE id = ?", [(i,) for i, _ in doomed])
        for _, p in doomed:  # after the commit: a run never points at a deleted file
            with contextlib.suppress(OSError):
                Path(p).unlink()
        if doomed:
            self.drop_unused_seen_files()
        return [int(i) for i, _ in doomed]

    def drop_unused_seen_files(self) -> list[Path]:
        """Delete the seen-items files of :attr:`models_dir` whose models are all gone
        (:func:`mfcore.seen.unused_seen_files`); the files deleted."""
        gone = unused_seen_files(self.models_dir) if self.models_dir.is_dir() else []
        for p in gone:
            with contextlib.suppress(OSError):
                p.unlink()
        return gone

    def pin_models(self, run_ids: Iterable[int], *, pinned: bool = True,
                   only_owner: str | None = None) -> list[int]:
        """Pin runs' model files so :meth:`prune_models` never deletes them (``pinned=False``
        hands them back to the policy); returns the runs changed.

        Only runs that still have a model file change; with ``only_owner``, only that owner's.
        """
        ids = [int(i) for i in run_ids]
        if not ids:
            return []
        where = f"id IN ({', '.join('?' * len(ids))}) AND model_path IS NOT NULL"
        args: list = list(ids)
        if only_owner is not None:
            where, args = where + " AND owner = ?", args + [only_owner]
        with self._write() as conn:
            changed = [r[0] for r in conn.execute(f"SELECT id FROM runs WHERE {where}", args)]
            conn.execute(f"UPDATE runs SET model_state = ? WHERE {where}",
                         ["pinned" if pinned else None, *args])
        return [int(i) for i in changed]
