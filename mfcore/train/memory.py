"""Will a training run fit in memory? The estimate, and a refusal with the numbers when not."""
from __future__ import annotations

from ..errors import ResourceError
from ..values import human_bytes


def memory_estimate(n_users: int, n_items: int, n_train: int, factors: int,
                    early_stopping: bool = False) -> int:
    """Bytes a training run needs beyond the loaded data (factors, snapshots, visit order)."""
    params = (n_users + n_items) * (factors + 1) * 4
    copies = 3 if early_stopping else 2  # live + epoch snapshot (+ best epoch)
    return params * copies + n_train * 12  # + the working copy of the rows


def check_memory(n_users: int, n_items: int, n_train: int, factors: int,
                 early_stopping: bool = False, available: int | None = None) -> int:
    """Raise :class:`ResourceError` when a run would not fit in the memory available.

    Returns the estimate in bytes.
    """
    need = memory_estimate(n_users, n_items, n_train, factors, early_stopping)
    if available is None:
        available = _available_memory()
    if available is not None and need > 0.8 * available:
        raise ResourceError(
            f"training needs about {human_bytes(need, base=1024)} ({n_users:,} users + {n_items:,} items × "
            f"{factors} factors) but only {human_bytes(available, base=1024)} is available; use fewer factors "
            "or filter rare users/items")
    return need


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
