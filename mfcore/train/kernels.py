"""numba kernels for matrix factorization by SGD.

Each kernel works on plain arrays and one slice of the training rows, so the Python driver
(:mod:`mfcore.train.model`) can check for cancellation between calls and run several slices in
parallel threads. All are ``nogil`` (a training run must not freeze the server's event loop) and
``cache=True`` (the app must not pay the JIT compile on the first click).

The update is the one in ``docs/definitions.md`` (Koren, Bell & Volinsky 2009)::

    e = r - (mu + b_u + b_i + p_u . q_i)
    b_u += lr (e - reg b_u);  b_i += lr (e - reg b_i)
    p_u += lr (e q_i - reg p_u);  q_i += lr (e p_u - reg q_i)   # both with the old p_u, q_i
"""
from __future__ import annotations

import warnings

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import NumbaIRAssumptionWarning
from numba.extending import intrinsic, overload, register_jitable

OK = -1  # returned by sgd_chunk when no value turned NaN/inf
# Reassociation lets LLVM vectorise the dot products (4x faster); 'nnan'/'ninf' are left out
# on purpose so the divergence checks below are not optimised away.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
# Inlining _step (inline="always", worth its speed) makes numba's own pedantic SSA check print
# "variable ... is not in scope ... Please report" on the first compile; the compiled code is
# right (the kernels are tested against their Python twins), so users are not shown it.
warnings.filterwarnings("ignore", category=NumbaIRAssumptionWarning, module=r"numba\.core\.ssa")
_FLOAT32_MAX = np.float32(np.finfo(np.float32).max)
# Rows ahead whose factor rows are prefetched: on data larger than the caches SGD waits on
# memory, and the visit order is known in advance (1.5-2x faster there, neutral on small data).
PREFETCH_AHEAD = 4
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _prefetch_row(arr, row):
    """Prefetch ``arr[row, :]`` into the cache (a no-op in plain Python, for the twins)."""


@intrinsic
def _prefetch_intrinsic(typingctx, arr, row):
    """Hint the CPU to load every cache line of ``arr[row, :]`` (a 2-D C-contiguous array)."""
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        zero = context.get_constant(types.intp, 0)
        rowv = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [rowv, zero])
        i8p = builder.bitcast(ptr, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        nbytes = builder.mul(builder.extract_value(ary.shape, 1),
                             context.get_constant(types.intp, aryty.dtype.bitwidth // 8))
        with cgutils.for_range_slice(builder, zero, nbytes, context.get_constant(types.intp, 64),
                                     intp=intp) as (offset, _):
            # read, high locality, data cache
            builder.call(fn, [builder.gep(i8p, [offset]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@overload(_prefetch_row, inline="always")
def _prefetch_row_jit(arr, row):
    return lambda arr, row: _prefetch_intrinsic(arr, row)


# register_jitable: compiled into the kernels, plain Python in their py_func twins.
@register_jitable(inline="always")
def _random(state):
    """splitmix64: returns (next state, 64 random bits). Cheap, and the same in the twins."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@register_jitable(inline="always")
def _below(bits, n):
    """An integer in [0, n) from 64 random bits (Lemire's multiply-shift; bias < n / 2**32)."""
    return np.int64(((bits >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@njit(nogil=True, cache=True)
def shuffle_rows(users, items, values, seed):
    """Shuffle the rows (users[r], items[r], values[r]) together, in place (Fisher–Yates).

    The driver shuffles the rows themselves rather than an index into them: SGD then reads
    them sequentially, which is about a third faster than following a permutation. numba keeps
    generator is seeded by ``seed`` alone (no global state), so runs are reproducible.
    """
    state = np.uint64(seed)
    for a in range(len(users) - 1, 0, -1):
        state, bits = _random(state)
        b = _below(bits, a + 1)
        users[a], users[b] = users[b], users[a]
        items[a], items[b] = items[b], items[a]
        values[a], values[b] = values[b], values[a]


@register_jitable(fastmath=FASTMATH, inline="always")
def _step(u, i, r, P, Q, bu, bi, mu, lr, reg, lr_bias):
    """One SGD update; returns False when its error is NaN or inf.

    The unbiased variant passes ``mu = 0``, zero biases and ``lr_bias = 0``, so the biases stay
    exactly zero without a branch in the hot loop.

    A NaN/inf written into a factor makes the error of the next step that reads it non-finite,
    and the driver's exact loss after each epoch catches any that no later step read; either way
    the driver restores the last finished epoch, so no NaN factor survives.
    """
    k = P.shape[1]
    pred = mu + bu[u] + bi[i]
    for f in range(k):
        pred += P[u, f] * Q[i, f]
    e = r - pred
    bu[u] += lr_bias * (e - reg * bu[u])
    bi[i] += lr_bias * (e - reg * bi[i])
    for f in range(k):
        pu = P[u, f]
        qi = Q[i, f]
        P[u, f] = pu + lr * (e * qi - reg * pu)
        Q[i, f] = qi + lr * (e * pu - reg * qi)
    # Not np.isfinite: under 'reassoc' LLVM may fold its x - x == 0 test to true. An ordered
    # comparison is false for NaN and for inf alike.
    return abs(e) <= _FLOAT32_MAX


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def sgd_chunk(users, items, values, start, end, P, Q, bu, bi, mu, lr, reg, lr_bias):
    """Run SGD over rows ``start:end``; return the first row whose error is NaN/inf, or -1.

    Parameters
    ----------
    users, items : int32 arrays
        Dense indices of the training rows (already in the order to visit them).
    values : float32 array
        Targets of the training rows.
    start, end : int
        The rows this call processes.
    P, Q : float32 2-D arrays
        User and item factors, updated in place.
    bu, bi : float32 arrays
        User and item biases, updated in place.
    mu, lr, reg, lr_bias : float32
        Global mean, learning rate, regularisation, and the learning rate of the biases
        (``lr`` for the biased model, 0 for the unbiased one).
    """
    ahead = min(end, start + PREFETCH_AHEAD)
    for row in range(start, end):
        # Written out here and in error_sums on purpose: moving these four lines into an
        # inlined helper halved the throughput (measured with benchmarks/bench_train.py).
        if ahead < end:
            _prefetch_row(P, users[ahead])
            _prefetch_row(Q, items[ahead])
            ahead += 1
        if not _step(users[row], items[row], values[row], P, Q, bu, bi, mu, lr, reg, lr_bias):
            return row
    return OK


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def sgd_chunk_negative(users, items, values, start, end, P, Q, bu, bi, mu, lr, reg, lr_bias,
                       neg_ratio, neg_pool, seed):
    """:func:`sgd_chunk` plus, after each row, ``neg_ratio`` sampled items with target 0.

    A fractional ratio draws one more negative with that probability. Negatives are drawn
    uniformly from ``neg_pool``: all items (uniform sampling) or the training rows' items
    (popularity sampling); in parallel mode only those of the row's item block, so threads never
    share a row. ``seed`` seeds the sampler.
    """
    state = np.uint64(seed)
    n_whole = int(neg_ratio)
    frac_bits = np.uint64((neg_ratio - n_whole) * 2.0**32)
    zero = np.float32(0.0)
    for row in range(start, end):
        u = users[row]
        if not _step(u, items[row], values[row], P, Q, bu, bi, mu, lr, reg, lr_bias):
            return row
        state, bits = _random(state)
        n_neg = n_whole + ((bits & np.uint64(0xFFFFFFFF)) < frac_bits)
        for _ in range(n_neg):
            state, bits = _random(state)
            j = neg_pool[_below(bits, len(neg_pool))]
            if not _step(u, j, zero, P, Q, bu, bi, mu, lr, reg, lr_bias):
                return row
    return OK


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def error_sums(users, items, values, start, end, P, Q, bu, bi, mu):
    """Sum of squared and of absolute errors of rows ``start:end`` (float64 accumulators)."""
    k = P.shape[1]
    sse = 0.0
    sae = 0.0
    ahead = min(end, start + PREFETCH_AHEAD)
    for row in range(start, end):
        if ahead < end:
            _prefetch_row(P, users[ahead])
            _prefetch_row(Q, items[ahead])
            ahead += 1
        u = users[row]
        i = items[row]
        pred = mu + bu[u] + bi[i]
        for f in range(k):
            pred += P[u, f] * Q[i, f]
        e = np.float64(values[row]) - np.float64(pred)
        sse += e * e
        sae += abs(e)
    return sse, sae


def warm_up() -> None:
    """Load (or compile, the first time) every kernel, so that no user click pays for it.

    Compiled code is cached on disk (``cache=True``); loading it still takes a few hundred
    milliseconds per process, which the app spends in a background thread at start-up.
    """
    users = np.zeros(2, np.int32)
    values = np.ones(2, np.float32)
    P = np.zeros((1, 1), np.float32)
    b = np.zeros(1, np.float32)
    f = np.float32(0.0)
    shuffle_rows(users.copy(), users.copy(), values.copy(), 0)
    sgd_chunk(users, users, values, 0, 2, P, P.copy(), b, b.copy(), f, f, f, f)
    sgd_chunk_negative(users, users, values, 0, 2, P, P.copy(), b, b.copy(), f, f, f, f, 0.5,
                       users, 0)
    error_sums(users, users, values, 0, 2, P, P, b, b, f)
