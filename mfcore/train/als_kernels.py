"""numba kernels for implicit alternating least squares (Hu, Koren & Volinsky 2008).

One half-step solves every row ``u`` of ``X`` with the other side ``Y`` fixed::

    (YᵀY + λI + Σ_{i∈R(u)} (c_ui − 1) y_i y_iᵀ) x_u = Σ_{i∈R(u)} c_ui y_i

where R(u) is the row's observed columns (``shared/guides/definitions.md``, "Implicit ALS").
Rows are independent, so the driver (:mod:`mfcore.train.als`) hands each kernel call a run of
consecutive rows and runs calls in parallel threads; the kernels are ``nogil`` and ``cache=True``
like the SGD ones (:mod:`mfcore.train.kernels`).

Rows come as CSR arrays: ``indptr`` (int64, n_rows + 1) and ``indices`` (int32 columns), with
their confidences as ``conf = (g, alpha, base)``: entry n's is the float32 of
``base + alpha · g[n]`` (training: the rows' values or their log1p, α and 1; an explicit array of
confidences c: ``(c, 1.0, 0.0)``), so no array of confidences need exist beside the values. A
row with no observed column has the exact solution 0.

The solvers also take the other grouping of the same rows without copying them: with
``order`` (int row numbers), entry n of the CSR is row ``order[n]`` of ``indices`` and ``g``.
The item side of training is the user-sorted rows through such an order: 4 bytes a row
instead of a regrouped copy of the users and values (8).

Every solver returns the first row whose solution is NaN/inf, or :data:`OK`; so does
:func:`observed_loss`, beside its sum. :func:`gram_rows` gives YᵀY over a run of rows.
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
# Rows solved in lockstep by cg_rows: their products with YᵀY are then one pass over YᵀY for
# four vectors, 1.6x faster at k = 128 than four passes (fewer loads per multiply-add); on
# short rows (most songs of a playlist set) those products are 90% of the work.
GROUP = 4
# Rows summed in float32 by gram_rows before the float64 total takes them.
_GRAM_SPAN = 64


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
def _gram_times4(G, V, reg, out):
    """out[b] = (G + reg I) V[b] for the four rows of V (G symmetric float32, k × k).

    Two rows of G at a time against all four vectors: eight sums share each load. The sums of
    one vector do not depend on the other three, so each row's result is the same whatever
    rows it is grouped with.
    """
    k = G.shape[0]
    v0, v1, v2, v3 = V[0], V[1], V[2], V[3]
    for f in range(0, k - 1, 2):
        ga, gb = G[f], G[f + 1]
        a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = np.float32(0.0)
        for j in range(k):
            x, y = ga[j], gb[j]
            a0 += x * v0[j]
            a1 += x * v1[j]
            a2 += x * v2[j]
            a3 += x * v3[j]
            b0 += y * v0[j]
            b1 += y * v1[j]
            b2 += y * v2[j]
            b3 += y * v3[j]
        out[0, f], out[0, f + 1] = a0 + reg * v0[f], b0 + reg * v0[f + 1]
        out[1, f], out[1, f + 1] = a1 + reg * v1[f], b1 + reg * v1[f + 1]
        out[2, f], out[2, f + 1] = a2 + reg * v2[f], b2 + reg * v2[f + 1]
        out[3, f], out[3, f + 1] = a3 + reg * v3[f], b3 + reg * v3[f + 1]
    if k % 2:
        f = k - 1
        for b in range(4):
            out[b, f] = _dot(G[f], V[b]) + reg * V[b, f]


@register_jitable
def _conf(conf, n):
    """Entry n's confidence, rounded to float32 once as an array of them would be."""
    return np.float32(conf[2] + conf[1] * np.float64(conf[0][n]))


@register_jitable
def _entry(order, n):
    """The row behind CSR entry n: n itself, or ``order[n]`` (see the module docstring)."""
    if order is None:
        return n
    return order[n]


@register_jitable(fastmath=FASTMATH)
def _add_observed(indptr, shift, indices, conf, Y, v, out, u, rhs):
    """out += Σ_{i∈R(u)} ((c − 1) y·v − rhs·c) y: the observed part of A_u v (rhs = 0), or of
    A_u v − b_u (rhs = 1). Row u's entries are ``indptr[u - shift]:indptr[u - shift + 1]``."""
    for n in range(indptr[u - shift], indptr[u - shift + 1]):
        y = Y[indices[n]]
        c = _conf(conf, n)
        w = (c - np.float32(1.0)) * _dot(y, v) - rhs * c
        for f in range(out.shape[0]):
            out[f] += w * y[f]


@register_jitable(fastmath=FASTMATH)
def _first(bad, u):
    """The smaller of two row indices, either of which may be OK (none)."""
    if bad == OK:
        return u
    return bad if u == OK else min(bad, u)


@register_jitable(fastmath=FASTMATH)
def _start_group(indptr, shift, indices, conf, X, Y, V, R, P, rs, g, m):
    """Turn R = (YᵀY + λI) V into the residuals b − A x of rows g..g+m, and P into their first
    directions; zero empty rows. Returns the first row whose residual is NaN/inf, or OK."""
    bad = OK
    for b in range(GROUP):
        u = g + b
        rs[b] = 0.0
        if b >= m:
            continue
        if indptr[u - shift] == indptr[u - shift + 1]:
            X[u] = 0.0  # the exact solution
            continue
        r = R[b]
        _add_observed(indptr, shift, indices, conf, Y, V[b], r, u, np.float32(1.0))
        s = np.float32(0.0)
        for f in range(r.shape[0]):
            r[f] = -r[f]
            s += r[f] * r[f]
        P[b] = r
        if _finite(s):
            rs[b] = s
        else:
            bad = _first(bad, u)
    return bad


@register_jitable(fastmath=FASTMATH)
def _cg_step(indptr, shift, indices, conf, X, Y, R, P, AP, rs, g, m):
    """One CG step of each unfinished row g..g+m, given AP = (YᵀY + λI) P. Returns the first
    row that turned NaN/inf, or OK."""
    bad = OK
    for b in range(m):
        if rs[b] < CG_TOLERANCE:
            continue
        u = g + b
        x, r, p, ap = X[u], R[b], P[b], AP[b]
        _add_observed(indptr, shift, indices, conf, Y, p, ap, u, np.float32(0.0))
        pap = _dot(p, ap)
        if not (_finite(pap) and pap > 0.0):  # NaN/inf, or reg = 0 and singular
            if not _finite(pap):
                bad = _first(bad, u)
            rs[b] = 0.0
            continue
        a = rs[b] / pap
        s = np.float32(0.0)
        for f in range(x.shape[0]):
            x[f] += a * p[f]
            r[f] -= a * ap[f]
            s += r[f] * r[f]
        beta = s / rs[b]
        for f in range(x.shape[0]):
            p[f] = r[f] + beta * p[f]
        rs[b] = s
    return bad


@register_jitable
def _gather(indptr, indices, conf, order, g, m, lp, gi, gc):
    """Rows g..g+m's entries through ``order`` into ``gi`` (columns) and ``gc`` (their float32
    confidences, so ``(gc, 1.0, 0.0)`` gives them back exactly), bounded by ``lp``."""
    lp[0] = 0
    pos = 0
    for b in range(m):
        for n in range(indptr[g + b], indptr[g + b + 1]):
            e = order[n]
            gi[pos] = indices[e]
            gc[pos] = _conf(conf, e)
            pos += 1
        lp[b + 1] = pos
    for b in range(m, GROUP):
        lp[b + 1] = pos


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def cg_rows(indptr, indices, conf, X, Y, YtY, reg, cg_steps, row_lo, row_hi, order=None):
    """Solve rows ``row_lo:row_hi`` of ``X`` by ``cg_steps`` conjugate-gradient steps each.

    Each row starts from its current value (warm start, Takács, Pilászy & Tikk 2011), so a few
    steps per half-step suffice, and each step lowers the row's quadratic: the objective never
    increases. Rows go through in groups of :data:`GROUP` in lockstep (one product with YᵀY
    for the group), each with its own CG scalars. The inner loops run in float32 (vectorised);
    CG is an approximation already, and :func:`cholesky_rows` is the exact float64 solve.

    Parameters
    ----------
    indptr, indices : arrays
        The rows in CSR form (int64, int32).
    conf : (float32 array, float, float)
        Their confidences ``(g, alpha, base)``, see the module docstring.
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
    order : int array, optional
        Entry n of the CSR is row ``order[n]`` of ``indices`` and the confidences (default:
        row n).

    Returns
    -------
    int
        The first row that came out NaN/inf, or :data:`OK`.
    """
    k = X.shape[1]
    V = np.zeros((GROUP, k), np.float32)  # the group's starting rows
    R = np.zeros((GROUP, k), np.float32)  # residuals b − A x
    P = np.zeros((GROUP, k), np.float32)  # search directions
    AP = np.zeros((GROUP, k), np.float32)
    rs = np.zeros(GROUP, np.float32)  # ‖r‖²; below CG_TOLERANCE once a row is done
    lp = np.zeros(GROUP + 1, np.int64)  # a group's entries, gathered (with ``order``)
    gi = np.empty(0, indices.dtype)
    gc = np.empty(0, np.float32)
    for g in range(row_lo, row_hi, GROUP):
        m = min(GROUP, row_hi - g)
        for b in range(m):
            V[b] = X[g + b]
        _gram_times4(YtY, V, reg, R)
        if order is None:
            ptr, shift, idx, cf = indptr, 0, indices, conf
        else:  # the group's entries gathered once, then read in turn by every CG step
            total = indptr[g + m] - indptr[g]
            if total > len(gi):
                gi = np.empty(2 * total, indices.dtype)
                gc = np.empty(2 * total, np.float32)
            _gather(indptr, indices, conf, order, g, m, lp, gi, gc)
            ptr, shift, idx, cf = lp, g, gi, (gc, 1.0, 0.0)
        bad = _start_group(ptr, shift, idx, cf, X, Y, V, R, P, rs, g, m)
        for _ in range(cg_steps):
            if rs.max() < CG_TOLERANCE:
                break
            _gram_times4(YtY, P, reg, AP)
            bad = _first(bad, _cg_step(ptr, shift, idx, cf, X, Y, R, P, AP, rs, g, m))
        for b in range(m):
            if not _finite(_sq64(X[g + b])):
                bad = _first(bad, g + b)
        if bad != OK:
            return bad
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
def cholesky_rows(indptr, indices, conf, X, Y, YtY, reg, row_lo, row_hi, order=None):
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
            e = _entry(order, n)
            y = Y[indices[e]]
            c = np.float64(_conf(conf, e))
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
            part += np.float64(_conf(conf, n)) * e * e - s * s
        if not _finite(part):
            return total + part, u
        total += part
    return total, OK


@njit(nogil=True, cache=True, fastmath=FASTMATH)
def gram_rows(F, row_lo, row_hi):
    """Σ f_u f_uᵀ over rows ``row_lo:row_hi`` of float32 ``F``: a (k, k) float64 array.

    Eight rows at a time update the lower triangle of a float32 sum, which goes into the
    float64 result every :data:`_GRAM_SPAN` rows: as fast as one BLAS thread within 2x, about
    50x more accurate than BLAS's float32 sums, and free of BLAS's own thread pool, which
    stalls badly when it competes with the solver's threads or other processes for the cores.
    """
    k = F.shape[1]
    out = np.zeros((k, k), np.float64)
    acc = np.empty((k, k), np.float32)
    for start in range(row_lo, row_hi, _GRAM_SPAN):
        stop = min(start + _GRAM_SPAN, row_hi)
        acc[:] = 0.0
        u = start
        while u + 8 <= stop:
            y0, y1, y2, y3 = F[u], F[u + 1], F[u + 2], F[u + 3]
            y4, y5, y6, y7 = F[u + 4], F[u + 5], F[u + 6], F[u + 7]
            for f in range(k):
                a0, a1, a2, a3 = y0[f], y1[f], y2[f], y3[f]
                a4, a5, a6, a7 = y4[f], y5[f], y6[f], y7[f]
                row = acc[f]
                for j in range(f + 1):
                    row[j] += ((a0 * y0[j] + a1 * y1[j]) + (a2 * y2[j] + a3 * y3[j])
                               + ((a4 * y4[j] + a5 * y5[j]) + (a6 * y6[j] + a7 * y7[j])))
            u += 8
        for v in range(u, stop):
            y = F[v]
            for f in range(k):
                row = acc[f]
                for j in range(f + 1):
                    row[j] += y[f] * y[j]
        for f in range(k):
            for j in range(f + 1):
                out[f, j] += acc[f, j]
    for f in range(k):
        for j in range(f):
            out[j, f] = out[f, j]
    return out


def gram(F: np.ndarray) -> np.ndarray:
    """FᵀF (k × k, float64) in the calling thread (:func:`gram_rows` over all rows)."""
    return gram_rows(np.ascontiguousarray(F, dtype=np.float32), 0, F.shape[0])


def warm_up() -> None:
    """Load (or compile, the first time) every ALS kernel; see :func:`kernels.warm_up`."""
    indptr = np.array([0, 1, 1], np.int64)
    indices = np.zeros(1, np.int32)
    conf = (np.ones(1, np.float32), 1.0, 0.0)
    X = np.zeros((2, 1), np.float32)
    G = np.ones((1, 1), np.float32)
    order = np.zeros(1, np.int32)
    for o in (None, order):  # the user side, and the item side through the rows' order
        cg_rows(indptr, indices, conf, X, X, G, np.float32(1.0), 1, 0, 2, o)
        cholesky_rows(indptr, indices, conf, X, X, G.astype(np.float64), 1.0, 0, 2, o)
    observed_loss(indptr, indices, conf, X, X, 0, 2)
    gram_rows(X, 0, 2)
