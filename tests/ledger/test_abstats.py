"""The A/B statistics: the tests agree with scipy/statsmodels, the sample-size estimates give 80% power, and the
winner rule names the known answer on synthetic data (clear winner, no difference, too few samples)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from ccproxy_desktop.ledger.abstats import (
    VariantSample,
    decide,
    mann_whitney_u,
    n_for_mann_whitney,
    n_for_proportions,
    percentile,
    two_proportion_z,
)

# Reference values computed once with scipy 1.17 (`mannwhitneyu(x, y, alternative="two-sided",
# method="asymptotic", use_continuity=True)`) and statsmodels 0.15 (`proportions_ztest`), in a throwaway venv.
MW_CASES = [
    ([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8], 4.5, 0.066015431521231),
    ([1] * 10 + [2] * 5, [1] * 3 + [2] * 8 + [3] * 4, 50.0, 0.004909675485997047),
    ([5.0, 5.0, 5.0], [5.0, 5.0], 3.0, 1.0),  # all tied: no variance
]
Z_CASES = [
    (90, 100, 80, 100, 1.9802950859533481, 0.047670380656161464),
    (45, 50, 40, 60, 2.9077314113900408, 0.0036406087316527024),
    (500, 520, 480, 510, 1.5202939677143192, 0.12843710945091774),
    (10, 10, 10, 10, 0.0, 1.0),  # all succeeded: no variance
]


@pytest.mark.parametrize(("x", "y", "u", "p"), MW_CASES)
def test_mann_whitney_matches_scipy(x: list[float], y: list[float], u: float, p: float) -> None:
    result = mann_whitney_u(x, y)
    assert result.u == u
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_mann_whitney_on_generated_samples_matches_scipy() -> None:
    rng = random.Random(7)
    x = [round(rng.gauss(100, 20)) for _ in range(60)]
    y = [round(rng.gauss(110, 20)) for _ in range(80)]
    result = mann_whitney_u(x, y)
    assert (result.u, result.p_value) == (1508.0, pytest.approx(0.00017342904415245018, rel=1e-9))
    assert result.prob_greater < 0.5  # x tends to be lower


@pytest.mark.parametrize(("s1", "n1", "s2", "n2", "z", "p"), Z_CASES)
def test_two_proportion_z_matches_statsmodels(s1: int, n1: int, s2: int, n2: int, z: float, p: float) -> None:
    result = two_proportion_z(s1, n1, s2, n2)
    assert result.z == pytest.approx(z, rel=1e-12, abs=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9)


def test_sample_size_for_two_proportions_is_the_textbook_value() -> None:
    # 90% vs 80%, two-sided alpha 0.05, 80% power: 199 per group (Fleiss, without continuity correction).
    assert math.ceil(n_for_proportions(0.9, 0.8, 0.05)) == 199
    assert n_for_proportions(0.5, 0.5, 0.05) == math.inf
    # Noether: P(X > Y) = 0.6 -> (1.96 + 0.8416)^2 / (6 * 0.01) = 131 per group.
    assert math.ceil(n_for_mann_whitney(0.6, 0.05)) == 131
    assert n_for_mann_whitney(0.5, 0.05) == math.inf


def test_the_sample_size_estimates_give_about_80_percent_power() -> None:
    """Simulated: at the estimated size each test detects the effect it was sized for about 80% of the time."""
    rng = random.Random(1)
    n = math.ceil(n_for_proportions(0.9, 0.8, 0.05))
    hits = sum(
        two_proportion_z(
            sum(rng.random() < 0.9 for _ in range(n)), n, sum(rng.random() < 0.8 for _ in range(n)), n
        ).p_value
        < 0.05
        for _ in range(400)
    )
    assert 0.72 <= hits / 400 <= 0.88
    n = math.ceil(n_for_mann_whitney(0.6, 0.05))
    shift = math.sqrt(2) * 0.2533  # normal shift with P(X > Y) = 0.6
    hits = sum(
        mann_whitney_u([rng.gauss(shift, 1) for _ in range(n)], [rng.gauss(0, 1) for _ in range(n)]).p_value
        < 0.05
        for _ in range(200)
    )
    assert 0.68 <= hits / 200 <= 0.9


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile([], 50)) == (50.0, 95.0, None)


# --- the winner rule on synthetic data ------------------------------------------------------------------


def synthetic(
    model: str, n: int, success: float, latency: Callable[[random.Random], float], seed: int
) -> VariantSample:
    rng = random.Random(seed)
    ok = [rng.random() < success for _ in range(n)]
    return VariantSample(model, n, sum(ok), [latency(rng) for flag in ok if flag])


def lognormal(median_ms: float) -> Callable[[random.Random], float]:
    return lambda rng: median_ms * math.exp(rng.gauss(0, 0.5))


def test_clear_success_winner() -> None:
    a = synthetic("opus", 400, 0.99, lognormal(3000), seed=1)
    b = synthetic("sonnet", 400, 0.85, lognormal(2000), seed=2)
    verdict = decide([a, b], significance=0.05, min_samples=100)
    assert verdict.winner == "opus"
    assert verdict.samples_needed == 0
    assert verdict.reason.startswith("higher success rate: ")
    assert "two-proportion z-test" in verdict.reason


def test_clear_latency_winner_when_success_rates_do_not_differ() -> None:
    a = synthetic("opus", 300, 0.98, lognormal(3000), seed=3)
    b = synthetic("sonnet", 300, 0.98, lognormal(2000), seed=4)
    verdict = decide([a, b], significance=0.05, min_samples=100)
    assert verdict.winner == "sonnet"
    assert verdict.reason.startswith("success rates don't differ")
    assert "Mann-Whitney U" in verdict.reason


def test_lower_latency_does_not_win_over_a_worse_success_rate() -> None:
    fast_but_flaky = synthetic("fast", 400, 0.80, lognormal(1000), seed=5)
    slow_but_solid = synthetic("slow", 400, 0.90, lognormal(3000), seed=6)
    assert decide([fast_but_flaky, slow_but_solid], 0.05, 100).winner == "slow"
    # Success differs significantly from one variant but not the other: neither test can name a winner.
    middle = synthetic("middle", 400, 0.85, lognormal(3000), seed=7)
    verdict = decide([fast_but_flaky, slow_but_solid, middle], 0.05, 100)
    assert verdict.winner is None


def test_no_difference_names_no_winner() -> None:
    a = synthetic("opus", 2000, 0.95, lognormal(2000), seed=8)
    b = synthetic("sonnet", 2000, 0.95, lognormal(2000), seed=9)
    verdict = decide([a, b], significance=0.05, min_samples=100)
    assert verdict.winner is None
    assert verdict.reason.startswith("no winner yet: no difference detectable at this size")


def test_identical_results_need_no_number_of_samples() -> None:
    same = VariantSample("opus", 200, 190, [1000.0] * 190)
    verdict = decide([same, VariantSample("sonnet", 200, 190, [1000.0] * 190)], 0.05, 100)
    assert verdict == decide([same, VariantSample("sonnet", 200, 190, [1000.0] * 190)], 0.05, 100)
    assert (verdict.winner, verdict.samples_needed) == (None, None)
    assert "the observed difference is zero" in verdict.reason


def test_too_few_samples_names_no_winner_even_with_a_large_difference() -> None:
    a = synthetic("opus", 40, 1.0, lognormal(3000), seed=10)
    b = synthetic("sonnet", 30, 0.5, lognormal(1000), seed=11)
    verdict = decide([a, b], significance=0.05, min_samples=100)
    assert verdict.winner is None
    assert verdict.reason == (
        "no winner yet: too few samples (sonnet has 30 of the 100 requests each variant needs); "
        "at least 70 more requests per variant"
    )
    assert verdict.samples_needed == 70


def test_too_few_samples_with_a_small_difference_estimates_from_the_data() -> None:
    a = VariantSample("opus", 60, 57, [1000.0] * 57)  # 95%
    b = VariantSample("sonnet", 50, 45, [1000.0] * 45)  # 90%
    verdict = decide([a, b], significance=0.05, min_samples=100)
    needed = math.ceil(n_for_proportions(0.95, 0.9, 0.025))
    assert needed > 100
    assert verdict.samples_needed == needed - 50
    assert verdict.reason.endswith(
        f"; about {needed - 50} more requests per variant, judging by the differences so far"
    )


def test_samples_needed_is_the_power_estimate_minus_what_is_there() -> None:
    a = VariantSample("opus", 120, 108, [1000.0] * 108)  # 90%
    b = VariantSample("sonnet", 100, 82, [1000.0] * 82)  # 82%: p = 0.1, not significant
    verdict = decide([a, b], significance=0.05, min_samples=100)
    assert verdict.winner is None
    # Two variants: each comparison at 0.05 / 2 (success and latency could each name a winner).
    needed = math.ceil(n_for_proportions(0.9, 0.82, 0.025))
    assert verdict.samples_needed == needed - 100
    assert verdict.reason == (
        "no winner yet: the differences are not significant (success opus 90.0%, sonnet 82.0%; median "
        "latency opus 1000 ms, sonnet 1000 ms; a winner needs p below 0.025: significance 0.05 over 2 "
        f"comparisons); about {needed - 100} more requests per variant should decide"
    )


def test_the_rule_rarely_names_a_winner_when_there_is_none() -> None:
    """A/A tests: variants drawn from the same distributions name a winner in at most about `significance`
    of the runs, although either of two tests may name one (4.5% in 1,000 runs; 400 here)."""
    winners = 0
    for run in range(400):
        a = synthetic("a", 150, 0.95, lognormal(2000), seed=1000 + 2 * run)
        b = synthetic("b", 150, 0.95, lognormal(2000), seed=1001 + 2 * run)
        winners += decide([a, b], 0.05, 100).winner is not None
    assert winners / 400 <= 0.065
