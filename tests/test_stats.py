"""Mann-Whitney U and median against reference values (no SciPy at run time)."""

from __future__ import annotations

import math
import random

import pytest

from bisect_runner.bisect.stats import mann_whitney_u, median


def _normal_p(u: float, n1: int, n2: int) -> float:
    """Two-sided p of the normal approximation without ties, with continuity correction, by hand."""
    mu = n1 * n2 / 2
    sigma = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    z = (abs(u - mu) - 0.5) / sigma
    return math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize(("a", "b", "u", "p"), [
    # Reference values from scipy.stats.mannwhitneyu(a, b, method="asymptotic") (SciPy 1.x).
    ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 0.0, 0.012185780355344813),
    ([19, 22, 16, 29, 24], [20, 11, 17, 12], 17.0, 0.11134688653314041),
    ([1, 1, 2, 2, 3], [2, 3, 3, 4, 4, 5], 3.0, 0.031633423039876964),
    # By hand: U = 0, mu = 4.5, sigma^2 = 3*3*7/12 = 5.25, z = 4/sqrt(5.25) = 1.7457, p = 0.0809.
    ([1, 2, 3], [4, 5, 6], 0.0, 0.080856),
], ids=["separated-5v5", "textbook-5v4", "ties", "hand-3v3"])
def test_mann_whitney_reference_values(a: list[float], b: list[float], u: float, p: float) -> None:
    got_u, got_p = mann_whitney_u(a, b)
    assert got_u == u
    assert got_p == pytest.approx(p, rel=1e-4)


def test_u_statistics_of_both_sides_add_up_and_p_is_symmetric() -> None:
    rng = random.Random(5)
    a = [rng.gauss(100, 10) for _ in range(17)]
    b = [rng.gauss(108, 10) for _ in range(23)]
    u_ab, p_ab = mann_whitney_u(a, b)
    u_ba, p_ba = mann_whitney_u(b, a)
    assert u_ab + u_ba == len(a) * len(b)
    assert p_ab == pytest.approx(p_ba)
    assert p_ab == pytest.approx(_normal_p(u_ab, len(a), len(b)))  # no ties: the plain formula


def test_identical_samples_are_not_different() -> None:
    assert mann_whitney_u([5, 5, 5], [5, 5, 5]) == (4.5, 1.0)
    assert mann_whitney_u([1, 2, 3], [1, 2, 3])[1] == 1.0


def test_shift_is_detected_at_realistic_latency_sample_sizes() -> None:
    rng = random.Random(11)
    base = [100 * rng.lognormvariate(0, 0.15) for _ in range(15)]
    slow = [130 * rng.lognormvariate(0, 0.15) for _ in range(15)]
    same = [100 * rng.lognormvariate(0, 0.15) for _ in range(15)]
    assert mann_whitney_u(slow, base)[1] <= 0.01
    assert mann_whitney_u(same, base)[1] > 0.05


def test_empty_samples_are_refused() -> None:
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize(("values", "expected"), [([3, 1, 2], 2), ([4, 1, 2, 3], 2.5), ([7], 7), ([2, 2], 2)],
                         ids=["odd", "even", "one", "pair"])
def test_median(values: list[float], expected: float) -> None:
    assert median(values) == expected
