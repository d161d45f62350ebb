"""Intervals for ``avem study``: mean ± 95% Student-t interval over seeds, and the interval
of a difference between two recipes (Welch). Pure Python, no SciPy.

- :func:`summarize`: the mean of the per-seed values and the half-width
  ``t_{0.975, n-1} · s / √n`` of its 95% interval (``s`` the sample standard deviation);
  one value has no interval (half-width ``None``).
- :func:`difference`: ``mean(a) − mean(b)`` and the half-width of its 95% Welch interval,
  ``t_{0.975, ν} · √(s_a²/n_a + s_b²/n_b)`` with Welch–Satterthwaite ``ν``. A group of one
  value (e.g. the single starting model) contributes no variance, and ``ν`` is the other
  group's ``n − 1``. The difference is **outside the interval** (marked in the table) when
  the interval excludes 0.

:func:`t_quantile` inverts the Student-t distribution function (regularised incomplete beta
by continued fraction, then bisection); tests compare it with SciPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student-t distribution function with ``df`` (> 0, not necessarily whole) degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (``0 < p < 1``)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def _var(values: Sequence[float]) -> float:
    n = len(values)
    mean = sum(values) / n
    return sum((v - mean) ** 2 for v in values) / (n - 1)


@dataclass(frozen=True)
class Summary:
    """Mean of per-seed values and the half-width of its 95% interval (``None``: one value)."""

    values: tuple[float, ...]
    mean: float
    half_width: float | None

    @property
    def n(self) -> int:
        return len(self.values)


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean ± Student-t half-width over ``values`` (at least one)."""
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("no values to summarise")
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return Summary(vals, mean, None)
    q = t_quantile(0.5 + confidence / 2.0, len(vals) - 1)
    return Summary(vals, mean, q * math.sqrt(_var(vals) / len(vals)))


@dataclass(frozen=True)
class Difference:
    """``mean(a) − mean(b)`` with its 95% Welch interval (``None``: no variance estimate)."""

    estimate: float
    half_width: float | None
    df: float | None

    @property
    def outside(self) -> bool:
        """The interval excludes 0 (the difference is marked)."""
        if self.half_width is None:
            return False
        return abs(self.estimate) > self.half_width


def difference(
    a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE
) -> Difference:
    """Welch interval of ``mean(a) − mean(b)``; a one-value group has zero variance."""
    if not a or not b:
        raise ValueError("both groups need at least one value")
    estimate = sum(a) / len(a) - sum(b) / len(b)
    parts = [(_var(g) / len(g), len(g) - 1) for g in (a, b) if len(g) > 1]
    if not parts:
        return Difference(estimate, None, None)
    se2 = sum(v for v, _ in parts)
    if se2 == 0.0:
        return Difference(estimate, 0.0, float(sum(df for _, df in parts)))
    df = se2**2 / sum(v**2 / d for v, d in parts)
    q = t_quantile(0.5 + confidence / 2.0, df)
    return Difference(estimate, q * math.sqrt(se2), df)
