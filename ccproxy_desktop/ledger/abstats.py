"""The statistics of A/B test reports: significance tests, sample-size estimates and the winner rule.

Pure (stdlib only: `statistics.NormalDist` for the normal distribution). Both tests are two-sided and use the
normal approximation, which is sound at the sample sizes a test needs before it names a winner (`min_samples`
is at least 10 per variant):

- success: the two-proportion z-test with the pooled proportion;
- latency: the Mann-Whitney U test with the tie correction and a continuity correction of 0.5 (what
  `scipy.stats.mannwhitneyu(..., method="asymptotic")` computes).

The winner rule (`decide`), with k variants and `alpha = significance / (2 (k - 1))` per comparison
(Bonferroni: a winner is compared with each of the k - 1 others, by success or by latency, so the chance of
naming a winner among variants that don't differ stays below `significance`):

1. no winner while any variant has fewer than `min_samples` requests;
2. the variant with the highest success rate wins if its rate is significantly higher than every other's;
3. otherwise the variant with the lowest median latency (successful requests) wins if its success rate does
   not differ significantly from any other's and its latencies are significantly lower than every other's;
4. otherwise there is no winner yet.

"How many more samples": for the leading variant against the closest rival, the per-variant sample size that
gives the test 80% power at `alpha` if the observed difference is the true one (success: the standard formula
for two proportions; latency: Noether's formula for the Mann-Whitney test, in successful requests, divided by
the lower success rate), whichever test needs fewer; minus the smallest variant's count. When the observed
difference is zero no sample size detects it (`samples_needed` is None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "MannWhitney",
    "VariantSample",
    "Verdict",
    "ZTest",
    "decide",
    "mann_whitney_u",
    "n_for_mann_whitney",
    "n_for_proportions",
    "percentile",
    "two_proportion_z",
]

_NORMAL = NormalDist()
POWER = 0.8
NEGLIGIBLE_FACTOR = 10
"""An effect that needs more than this many times the current sample to detect is reported as not
detectable at this size."""


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample: pairs where it is larger, ties counting half
    z: float
    p_value: float
    prob_greater: float  # U / (n1 * n2): P(X > Y) + P(X = Y) / 2; below 0.5 means X tends to be lower


def _two_sided(z: float) -> float:
    return min(1.0, 2.0 * (1.0 - _NORMAL.cdf(abs(z))))


def two_proportion_z(s1: int, n1: int, s2: int, n2: int) -> ZTest:
    """Two-sided z-test of s1/n1 against s2/n2 with the pooled proportion. Equal proportions of 0 or 1 (no
    variance) give z = 0, p = 1."""
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both samples need at least one request")
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return ZTest(0.0, 1.0)
    z = (s1 / n1 - s2 / n2) / se
    return ZTest(z, _two_sided(z))


def _ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """Average ranks (1-based) of `values` in their own order, and the tie term sum(t^3 - t)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        average = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = average
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    return ranks, ties


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test of x against y (normal approximation, tie and continuity corrected).
    All values equal gives z = 0, p = 1."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    ranks, ties = _ranks([*x, *y])
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    variance = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    prob = u / (n1 * n2)
    if variance <= 0:
        return MannWhitney(u, 0.0, 1.0, prob)
    z = (abs(u - mean) - 0.5) / math.sqrt(variance)
    z = max(z, 0.0) * (1 if u >= mean else -1)
    return MannWhitney(u, z, _two_sided(z), prob)


def _z_sum(alpha: float, power: float) -> tuple[float, float]:
    return _NORMAL.inv_cdf(1 - alpha / 2), _NORMAL.inv_cdf(power)


def n_for_proportions(p1: float, p2: float, alpha: float, power: float = POWER) -> float:
    """Requests per variant for a two-sided two-proportion z-test at `alpha` to detect p1 vs p2 with
    `power`; infinite when p1 == p2."""
    if p1 == p2:
        return math.inf
    z_a, z_b = _z_sum(alpha, power)
    mean = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return root**2 / (p1 - p2) ** 2


def n_for_mann_whitney(prob_greater: float, alpha: float, power: float = POWER) -> float:
    """Values per sample (equal sizes) for a two-sided Mann-Whitney test at `alpha` to detect
    P(X > Y) = `prob_greater` with `power` (Noether 1987); infinite at 0.5."""
    if prob_greater == 0.5:
        return math.inf
    z_a, z_b = _z_sum(alpha, power)
    return (z_a + z_b) ** 2 / (6 * (prob_greater - 0.5) ** 2)


def percentile(sorted_values: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile of ascending values (as `ccproxy status --health`); None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(percent * len(sorted_values) / 100))
    return float(sorted_values[rank - 1])


@dataclass(frozen=True)
class VariantSample:
    """What the ledger holds for one variant: requests that reached its model, how many succeeded, and the
    latencies of the successful ones."""

    model: str
    requests: int
    successes: int
    latencies_ms: Sequence[float]

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def median_ms(self) -> float | None:
        return percentile(sorted(self.latencies_ms), 50)


@dataclass(frozen=True)
class Verdict:
    """`winner` is a model or None; `reason` says why in a sentence; `samples_needed` is how many more
    requests per variant (0 with a winner; None when the observed difference is zero)."""

    winner: str | None
    reason: str
    samples_needed: int | None


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _p(value: float) -> str:
    return f"p={value:.3g}"


def decide(
    variants: Sequence[VariantSample], significance: float, min_samples: int, power: float = POWER
) -> Verdict:
    """Apply the winner rule of this module's docstring."""
    if len(variants) < 2:
        return Verdict(None, "an A/B test needs at least two variants", None)
    alpha = significance / (2 * (len(variants) - 1))
    smallest = min(variants, key=lambda v: v.requests)
    estimate = _needed(variants, alpha, power)
    if smallest.requests < max(min_samples, 1):
        by_data = math.isfinite(estimate) and estimate > min_samples
        more = (math.ceil(estimate) if by_data else min_samples) - smallest.requests
        outlook = (
            f"about {more} more requests per variant, judging by the differences so far"
            if by_data
            else f"at least {more} more requests per variant"
        )
        return Verdict(
            None,
            f"no winner yet: too few samples ({smallest.model} has {smallest.requests} of the "
            f"{min_samples} requests each variant needs); {outlook}",
            more,
        )
    best = max(variants, key=lambda v: v.successes / v.requests)
    others = [v for v in variants if v is not best]
    tests = [two_proportion_z(best.successes, best.requests, o.successes, o.requests) for o in others]
    if all(t.p_value < alpha and t.z > 0 for t in tests):
        rival = others[max(range(len(others)), key=lambda i: tests[i].p_value)]
        worst_p = max(t.p_value for t in tests)
        return Verdict(
            best.model,
            f"higher success rate: {_pct(best.success_rate)} vs {_pct(rival.success_rate)} "
            f"({rival.model}), two-proportion z-test {_p(worst_p)} < {alpha:.3g}",
            0,
        )
    latency = _latency_winner(variants, alpha)
    if latency is not None:
        return latency
    return _no_winner(variants, significance, alpha, estimate)


def _latency_winner(variants: Sequence[VariantSample], alpha: float) -> Verdict | None:
    if any(len(v.latencies_ms) < 2 for v in variants):
        return None
    fastest = min(variants, key=lambda v: v.median_ms or 0.0)
    others = [v for v in variants if v is not fastest]
    success = [two_proportion_z(fastest.successes, fastest.requests, o.successes, o.requests) for o in others]
    if any(t.p_value < alpha for t in success):
        return None
    tests = [mann_whitney_u(fastest.latencies_ms, o.latencies_ms) for o in others]
    if not all(t.p_value < alpha and t.prob_greater < 0.5 for t in tests):
        return None
    index = max(range(len(others)), key=lambda i: tests[i].p_value)
    rival = others[index]
    return Verdict(
        fastest.model,
        f"success rates don't differ ({_pct(fastest.success_rate)} vs {_pct(rival.success_rate)}, "
        f"{_p(success[index].p_value)}) and latency is lower: median {fastest.median_ms:.0f} ms vs "
        f"{rival.median_ms:.0f} ms ({rival.model}), Mann-Whitney U {_p(tests[index].p_value)} < {alpha:.3g}",
        0,
    )


def _needed(variants: Sequence[VariantSample], alpha: float, power: float) -> float:
    """Requests per variant at which the leading variant's test against its closest rival would have
    `power`, by success or by latency, whichever needs fewer; inf when neither differs or data is lacking.
    Latency counts only while the fastest variant's success rate doesn't differ significantly (rule 3)."""
    if any(v.requests == 0 for v in variants):
        return math.inf
    best = max(variants, key=lambda v: v.successes / v.requests)
    by_success = max(
        n_for_proportions(best.successes / best.requests, o.successes / o.requests, alpha, power)
        for o in variants
        if o is not best
    )
    if not all(v.latencies_ms for v in variants):
        return by_success
    fastest = min(variants, key=lambda v: v.median_ms or 0.0)
    others = [v for v in variants if v is not fastest]
    if any(
        two_proportion_z(fastest.successes, fastest.requests, o.successes, o.requests).p_value < alpha
        for o in others
    ):
        return by_success
    lowest_rate = min(v.successes / v.requests for v in variants)
    by_latency = max(
        n_for_mann_whitney(mann_whitney_u(fastest.latencies_ms, o.latencies_ms).prob_greater, alpha, power)
        for o in others
    )
    return min(by_success, by_latency / lowest_rate)


def _no_winner(
    variants: Sequence[VariantSample], significance: float, alpha: float, estimate: float
) -> Verdict:
    comparisons = 2 * (len(variants) - 1)
    rates = ", ".join(f"{v.model} {_pct(v.success_rate)}" for v in variants)
    medians = ", ".join(
        f"{v.model} {v.median_ms:.0f} ms" if v.median_ms is not None else f"{v.model} -" for v in variants
    )
    observed = f"success {rates}; median latency {medians}"
    level = f"p below {alpha:.3g}: significance {significance:g} over {comparisons} comparisons"
    largest = max(v.requests for v in variants)
    smallest = min(v.requests for v in variants)
    if not math.isfinite(estimate):
        return Verdict(
            None,
            f"no winner yet: no difference detectable at this size, the observed difference is zero "
            f"({observed})",
            None,
        )
    more = max(1, math.ceil(estimate) - smallest)
    if estimate > NEGLIGIBLE_FACTOR * largest:
        return Verdict(
            None,
            f"no winner yet: no difference detectable at this size ({observed}); if the observed difference "
            f"is real, about {more} more requests per variant would show it",
            more,
        )
    return Verdict(
        None,
        f"no winner yet: the differences are not significant ({observed}; a winner needs {level}); "
        f"about {more} more requests per variant should decide",
        more,
    )
