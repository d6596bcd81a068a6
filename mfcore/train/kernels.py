"""numba kernels for matrix factorization by SGD.

Each kernel works on plain arrays and one slice of the training rows, so the Python driver
(:mod:`mfcore.train.model`) can check for cancellation between calls and run several slices in
parallel threads. All are ``nogil`` (a training run must not freeze the server's event loop) and
``cache=True`` (the app must not pay the JIT compile on the first click).

The update is the one in ``shared/guides/definitions.md`` (Koren, Bell & Volinsky 2009)::

    e = r - (mu + b_u + b_i + p_u . q_i)
    b_u += lr (e - reg b_u);  b_i += lr (e - reg b_i)
    p_u += lr (e q_i - reg p_u);  q_i += lr (e p_u - reg q_i)   # both with the old p_u, q_i
"""
from __future__ import annotations

import numpy as np
from numba import njit

OK = -1  # returned by sgd_chunk when no value turned NaN/inf
# Reassociation lets LLVM vectorise the dot products (4x faster); 'nnan'/'ninf' are left out
# on purpose so the divergence checks below are not optimised away.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(nogil=True, cache=True)
def shuffle(order, seed):
    """Fisher–Yates shuffle of ``order`` in place with numba's generator seeded by ``seed``.

    numba keeps one generator per thread and ``np.random.seed`` outside numba does not reach it,
    so each call seeds it here: the result depends on ``seed`` alone.
    """
    np.random.seed(seed)
    for i in range(len(order) - 1, 0, -1):
        j = np.random.randint(0, i + 1)
        tmp = order[i]
        order[i] = order[j]
        order[j] = tmp


@njit(nogil=True, cache=True, fastmath=FASTMATH, inline="always")
def _step(u, i, r, P, Q, bu, bi, mu, lr, reg, biased):
    """One SGD update; returns False when its error is NaN or inf.

    A NaN/inf written into a factor makes the error of the next step that reads it non-finite,
    and the driver's exact loss after each epoch catches any that no later step read; either way
    the driver restores the last finished epoch, so no NaN factor survives.
    """
    k = P.shape[1]
    pred = np.float32(0.0)
    for f in range(k):
        pred += P[u, f] * Q[i, f]
    if biased:
        pred += mu + bu[u] + bi[i]
    e = r - pred
    if biased:
        bu[u] += lr * (e - reg * bu[u])
        bi[i] += lr * (e - reg * bi[i])
    for f in range(k):
        pu = P[u, f]
        qi = Q[i, f]
        P[u, f] = pu + lr * (e * qi - reg * pu)
        Q[i, f] = qi + lr * (e * pu - reg * qi)
    return np.isfinite(e)


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def sgd_chunk(users, items, values, order, start, end, P, Q, bu, bi, mu, lr, reg, biased,
              neg_ratio, neg_pool, seed):
    """Run SGD over ``order[start:end]``; return the position of a diverging step, or -1.

    Parameters
    ----------
    users, items : int32 arrays
        Dense indices of the training rows.
    values : float32 array
        Targets of the training rows.
    order : integer array
        Row indices in the order to visit them.
    start, end : int
        The slice of ``order`` this call processes.
    P, Q : float32 2-D arrays
        User and item factors, updated in place.
    bu, bi : float32 arrays
        User and item biases, updated in place (untouched when ``biased`` is False).
    mu : float32
        Global mean (0 when unbiased).
    lr, reg : float32
        Learning rate and regularisation.
    biased : bool
        Whether to use and update ``mu``, ``bu``, ``bi``.
    neg_ratio : float
        Unobserved items sampled per observed row, with target 0 (implicit data). A fraction
        is drawn with that probability.
    neg_pool : int32 array
        Items negatives are drawn from, uniformly: all items (uniform sampling) or the
        training rows' items (popularity sampling). In parallel mode, only the items of the
        slice's block, so threads never share a row.
    seed : int
        Seeds the negative sampler.
    """
    if neg_ratio > 0.0:
        np.random.seed(seed)
    n_whole = int(neg_ratio)
    frac = neg_ratio - n_whole
    zero = np.float32(0.0)
    for pos in range(start, end):
        row = order[pos]
        u = users[row]
        if not _step(u, items[row], values[row], P, Q, bu, bi, mu, lr, reg, biased):
            return pos
        if neg_ratio > 0.0:
            n_neg = n_whole
            if frac > 0.0 and np.random.random() < frac:
                n_neg += 1
            for _ in range(n_neg):
                j = neg_pool[np.random.randint(0, len(neg_pool))]
                if not _step(u, j, zero, P, Q, bu, bi, mu, lr, reg, biased):
                    return pos
    return OK


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def error_sums(users, items, values, start, end, P, Q, bu, bi, mu, biased):
    """Sum of squared and of absolute errors of rows ``start:end`` (float64 accumulators)."""
    k = P.shape[1]
    sse = 0.0
    sae = 0.0
    for row in range(start, end):
        u = users[row]
        i = items[row]
        pred = np.float32(0.0)
        for f in range(k):
            pred += P[u, f] * Q[i, f]
        if biased:
            pred += mu + bu[u] + bi[i]
        e = np.float64(values[row]) - np.float64(pred)
        sse += e * e
        sae += abs(e)
    return sse, sae
