"""numba kernels for implicit alternating least squares (Hu, Koren & Volinsky 2008).

One half-step solves every row ``u`` of ``X`` with the other side ``Y`` fixed::

    (YᵀY + λI + Σ_{i∈R(u)} (c_ui − 1) y_i y_iᵀ) x_u = Σ_{i∈R(u)} c_ui y_i

where R(u) is the row's observed columns (``shared/guides/definitions.md``, "Implicit ALS").
Rows are independent, so the driver (:mod:`mfcore.train.als`) hands each kernel call a run of
consecutive rows and runs calls in parallel threads; the kernels are ``nogil`` and ``cache=True``
like the SGD ones (:mod:`mfcore.train.kernels`).

Rows come as CSR arrays: ``indptr`` (int64, n_rows + 1), ``indices`` (int32 columns) and ``conf``
(float32 confidences c ≥ 1). A row with no observed column has the exact solution 0.

Every solver returns the first row whose solution is NaN/inf, or :data:`OK`.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import register_jitable

from .kernels import FASTMATH

OK = -1  # returned when every row came out finite
_F64_MAX = np.finfo(np.float64).max
# CG stops a row early once ‖r‖² falls below this: the row is solved to float32 precision.
CG_TOLERANCE = 1e-20
# Rows of the Gram matrix multiplied together: each load of v[j] then feeds four products, so
# the k×k product is bound by arithmetic rather than by loads from L1/L2.
_BLOCK = 4


def gram(F: np.ndarray, block: int = 65_536) -> np.ndarray:
    """FᵀF (k × k, float64) by BLAS on float32 blocks of rows, summed in float64.

    One BLAS call per block keeps the float32 sums short; a float64 copy of ``F`` (a few GiB on
    10M rows) is never made.
    """
    k = F.shape[1]
    out = np.zeros((k, k), np.float64)
    for start in range(0, F.shape[0], block):
        part = F[start:start + block]
        out += part.T @ part
    return out


@register_jitable(fastmath=FASTMATH)
def _finite(v):
    # An ordered comparison, false for NaN and inf alike (np.isfinite may be folded to true
    # under 'reassoc').
    return abs(v) <= _F64_MAX


@register_jitable(fastmath=FASTMATH)
def _dot(a, b):
    """a·b of two float32 vectors, in float32 (vectorised; a few lanes of partial sums)."""
    s = np.float32(0.0)
    for f in range(a.shape[0]):
        s += a[f] * b[f]
    return s


@register_jitable(fastmath=FASTMATH)
def _sq64(a):
    """‖a‖² in float64 (finite exactly when every element of a float32 vector is)."""
    s = 0.0
    for f in range(a.shape[0]):
        s += np.float64(a[f]) * np.float64(a[f])
    return s


@register_jitable(fastmath=FASTMATH)
def _gram_times(G, v, reg, out):
    """out = (G + reg I) v for a symmetric float32 G, four rows of G at a time."""
    k = v.shape[0]
    top = k - k % _BLOCK
    for f in range(0, top, _BLOCK):
        g0, g1, g2, g3 = G[f], G[f + 1], G[f + 2], G[f + 3]
        s0 = s1 = s2 = s3 = np.float32(0.0)
        for j in range(k):
            vj = v[j]
            s0 += g0[j] * vj
            s1 += g1[j] * vj
            s2 += g2[j] * vj
            s3 += g3[j] * vj
        out[f] = s0 + reg * v[f]
        out[f + 1] = s1 + reg * v[f + 1]
        out[f + 2] = s2 + reg * v[f + 2]
        out[f + 3] = s3 + reg * v[f + 3]
    for f in range(top, k):
        out[f] = _dot(G[f], v) + reg * v[f]


@register_jitable(fastmath=FASTMATH)
def _times_row(indptr, indices, conf, Y, G, reg, v, out, u):
    """out = A_u v, with A_u = G + reg I + Σ (c − 1) y yᵀ over row u's observed columns."""
    _gram_times(G, v, reg, out)
    for n in range(indptr[u], indptr[u + 1]):
        y = Y[indices[n]]
        w = (conf[n] - np.float32(1.0)) * _dot(y, v)
        for f in range(out.shape[0]):
            out[f] += w * y[f]


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def cg_rows(indptr, indices, conf, X, Y, YtY, reg, cg_steps, row_lo, row_hi):
    """Solve rows ``row_lo:row_hi`` of ``X`` by ``cg_steps`` conjugate-gradient steps each.

    Each row starts from its current value (warm start, Takács, Pilászy & Tikk 2011), so a few
    steps per half-step suffice, and each step lowers the row's quadratic: the objective never
    increases. The inner loops run in float32 (vectorised 8 or 16 wide); CG is an approximation
    already, and :func:`cholesky_rows` is the exact float64 solve.

    Parameters
    ----------
    indptr, indices, conf : arrays
        The rows in CSR form (int64, int32, float32 confidences).
    X : float32 array (n_rows, k)
        Solved in place.
    Y : float32 array (n_cols, k)
        The fixed side.
    YtY : float32 array (k, k)
        YᵀY.
    reg : float32
        λ.
    cg_steps : int
        Steps per row (at most; a solved row stops early).
    row_lo, row_hi : int
        The rows this call solves.

    Returns
    -------
    int
        The first row that came out NaN/inf, or :data:`OK`.
    """
    k = X.shape[1]
    r = np.empty(k, np.float32)
    p = np.empty(k, np.float32)
    ap = np.empty(k, np.float32)
    for u in range(row_lo, row_hi):
        x = X[u]
        if indptr[u] == indptr[u + 1]:
            for f in range(k):
                x[f] = 0.0
            continue
        # r = b − A x, with b = Σ c y: one pass over the row for both.
        _gram_times(YtY, x, reg, r)
        for f in range(k):
            r[f] = -r[f]
        for n in range(indptr[u], indptr[u + 1]):
            y = Y[indices[n]]
            c = conf[n]
            w = c - (c - np.float32(1.0)) * _dot(y, x)
            for f in range(k):
                r[f] += w * y[f]
        for f in range(k):
            p[f] = r[f]
        rs = _sq64(r)
        if not _finite(rs):
            return u
        for _ in range(cg_steps):
            if rs < CG_TOLERANCE:  # solved to float32 precision
                break
            _times_row(indptr, indices, conf, Y, YtY, reg, p, ap, u)
            pap = 0.0
            for f in range(k):
                pap += np.float64(p[f]) * np.float64(ap[f])
            if not _finite(pap):
                return u
            if not pap > 0.0:  # only with reg = 0 and a singular system
                break
            a = np.float32(rs / pap)
            for f in range(k):
                x[f] += a * p[f]
                r[f] -= a * ap[f]
            rs_new = _sq64(r)
            b = np.float32(rs_new / rs)
            for f in range(k):
                p[f] = r[f] + b * p[f]
            rs = rs_new
        if not _finite(_sq64(x)):
            return u
    return OK


@register_jitable(fastmath=FASTMATH)
def _cholesky_solve(A, b):
    """Solve A z = b in place (z in ``b``) for symmetric positive definite A, of which only
    the lower triangle is read and overwritten by its Cholesky factor L. False when A is not
    positive definite (or holds NaN)."""
    k = b.shape[0]
    for j in range(k):
        d = A[j, j]
        for m in range(j):
            d -= A[j, m] * A[j, m]
        if not d > 0.0:
            return False
        d = np.sqrt(d)
        A[j, j] = d
        for i in range(j + 1, k):
            s = A[i, j]
            for m in range(j):
                s -= A[i, m] * A[j, m]
            A[i, j] = s / d
    for i in range(k):  # L w = b
        s = b[i]
        for m in range(i):
            s -= A[i, m] * b[m]
        b[i] = s / A[i, i]
    for i in range(k - 1, -1, -1):  # Lᵀ z = w
        s = b[i]
        for m in range(i + 1, k):
            s -= A[m, i] * b[m]
        b[i] = s / A[i, i]
    return True


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def cholesky_rows(indptr, indices, conf, X, Y, YtY, reg, row_lo, row_hi):
    """Solve rows ``row_lo:row_hi`` of ``X`` exactly (Cholesky of the k × k system, float64).

    Takes the arguments of :func:`cg_rows` without ``cg_steps``; ``YtY`` is float64 here.
    Returns the first row whose system was not positive definite or whose solution is NaN/inf,
    or :data:`OK`.
    """
    k = X.shape[1]
    A = np.empty((k, k), np.float64)
    b = np.empty(k, np.float64)
    yd = np.empty(k, np.float64)
    for u in range(row_lo, row_hi):
        x = X[u]
        if indptr[u] == indptr[u + 1]:
            for f in range(k):
                x[f] = 0.0
            continue
        for f in range(k):
            for j in range(f + 1):
                A[f, j] = YtY[f, j]
            A[f, f] += reg
            b[f] = 0.0
        for n in range(indptr[u], indptr[u + 1]):
            y = Y[indices[n]]
            c = np.float64(conf[n])
            for f in range(k):
                yd[f] = y[f]
                b[f] += c * yd[f]
            for f in range(k):
                w = (c - 1.0) * yd[f]
                for j in range(f + 1):
                    A[f, j] += w * yd[j]
        if not _cholesky_solve(A, b):
            return u
        for f in range(k):
            x[f] = b[f]
        if not _finite(_sq64(x)):
            return u
    return OK


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def observed_loss(indptr, indices, conf, X, Y, row_lo, row_hi):
    """Σ over the observed pairs of rows ``row_lo:row_hi`` of c (1 − s)² − s², s = x_u·y_i.

    Added to Σ_all s² = trace(XᵀX·YᵀY) and the penalty, this gives the objective without
    visiting the unobserved pairs. Returns ``(sum, first row whose terms are NaN/inf or OK)``.
    """
    total = 0.0
    for u in range(row_lo, row_hi):
        x = X[u]
        part = 0.0
        for n in range(indptr[u], indptr[u + 1]):
            s = np.float64(_dot(Y[indices[n]], x))
            e = 1.0 - s
            part += np.float64(conf[n]) * e * e - s * s
        if not _finite(part):
            return total + part, u
        total += part
    return total, OK


def warm_up() -> None:
    """Load (or compile, the first time) every ALS kernel; see :func:`kernels.warm_up`."""
    indptr = np.array([0, 1, 1], np.int64)
    indices = np.zeros(1, np.int32)
    conf = np.ones(1, np.float32)
    X = np.zeros((2, 1), np.float32)
    G = np.ones((1, 1), np.float32)
    cg_rows(indptr, indices, conf, X, X, G, np.float32(1.0), 1, 0, 2)
    cholesky_rows(indptr, indices, conf, X, X, G.astype(np.float64), 1.0, 0, 2)
    observed_loss(indptr, indices, conf, X, X, 0, 2)
