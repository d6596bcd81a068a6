"""Which owners (browser sessions) are still there: last seen, and through which connections.

An owner is a session token (:func:`ui.session.owner`); it is *seen* on every run of the app
(every click, every poll) and *connected* while one of its browser connections is open. A tab
in the background polls rarely (browsers slow its timers to once a minute) but stays
connected; a closed tab stops both. :meth:`Presence.gone` combines the two: not seen for a
while and no open connection (or, where the server cannot tell, not seen for a while).

Usable without Streamlit: the connection check is a function given by the caller
(:attr:`Presence.connected`), ``None`` when nothing can tell.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["Presence"]


class Presence:
    """Last-seen times and open connections of owners (thread-safe).

    Parameters
    ----------
    clock : callable
        Monotonic clock, replaceable in tests.
    connected : callable, optional
        ``connected(client_id)`` → True while that browser connection is open, False once it
        closed, None when it cannot tell. Without it, only the last-seen time counts.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 connected: Callable[[str], bool | None] | None = None) -> None:
        self._clock = clock
        self.connected = connected
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._clients: dict[str, set[str]] = {}

    def touch(self, owner: str, client: str | None = None) -> None:
        """The owner was seen now (through the connection ``client``, when known)."""
        with self._lock:
            self._seen[owner] = self._clock()
            if client:
                self._clients.setdefault(owner, set()).add(client)

    def idle(self, owner: str, now: float | None = None) -> float:
        """Seconds since the owner was last seen (infinite for an owner never seen)."""
        now = self._clock() if now is None else now
        with self._lock:
            seen = self._seen.get(owner)
        return float("inf") if seen is None else now - seen

    def is_connected(self, owner: str) -> bool | None:
        """True while one of the owner's connections is open, False when all are closed, None
        when nothing can tell. Closed connections are forgotten."""
        probe = self.connected
        with self._lock:
            clients = set(self._clients.get(owner, ()))
        if probe is None or not clients:
            return None
        states = {c: probe(c) for c in clients}
        with self._lock:
            kept = self._clients.get(owner)
            if kept is not None:
                kept.difference_update(c for c, s in states.items() if s is False)
        if any(s is True for s in states.values()):
            return True
        return False if all(s is False for s in states.values()) else None

    def gone(self, owner: str, after: float, now: float | None = None) -> bool:
        """Not seen for more than ``after`` seconds and no connection open."""
        return self.idle(owner, now) > after and self.is_connected(owner) is not True

    def owners(self) -> list[str]:
        with self._lock:
            return list(self._seen)

    def forget(self, owner: str, *, unseen_for: float | None = None) -> bool:
        """Drop what is known of ``owner``; with ``unseen_for``, only if still not seen for
        that many seconds (checked under the lock, so a visit in between keeps it). Whether
        it was forgotten."""
        with self._lock:
            seen = self._seen.get(owner)
            if unseen_for is not None and seen is not None and \
                    self._clock() - seen <= unseen_for:
                return False
            self._seen.pop(owner, None)
            self._clients.pop(owner, None)
            return True
