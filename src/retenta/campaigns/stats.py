"""Pure statistics: the A/B winner rule and the holdout comparison.

**The winner rule** (documented in docs/campaigns.md). Each variant has ``n`` recipients
whose send was handed to a provider and ``x`` of them with at least one human (not machine)
click, or open, or an order placed since the start (per the test's metric). The leader is
the variant with the highest rate ``x/n`` (ties: the earlier variant). The leader wins
when, against EVERY other variant, a one-sided two-proportion z-test (pooled variance)
rejects "the leader is no better" at ``alpha / k``, and every variant has at least
``min_sample`` recipients. Otherwise there is no significant winner and the fallback rule
picks: ``first`` (variant A, the default) or ``leader``.

Why ``alpha / k``: the leader is chosen after seeing the data, so testing it one-sided at
``alpha`` would declare a false winner twice as often as ``alpha`` with two equal variants
(``tests/campaigns/test_stats.py`` simulates this). "Some variant beats all the others" is
contained in the union over the k variants of "variant i beats one fixed other variant",
each of probability ``alpha / k`` under equal rates, so the false-winner rate is at most
``alpha``. For an A/B test this is exactly the two-sided z-test at ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """``(z, p)`` of the one-sided two-proportion z-test that rate 1 exceeds rate 2.

    Pooled: ``p = (x1 + x2) / (n1 + n2)``, ``se = sqrt(p (1 - p) (1/n1 + 1/n2))``,
    ``z = (x1/n1 - x2/n2) / se``, one-sided ``p-value = 1 - Phi(z)``. No data or no
    variance: ``(0, 1)``.

    >>> z, p = z_test(60, 500, 40, 500)
    >>> round(z, 3), round(p, 4)
    (2.108, 0.0175)
    >>> z_test(0, 100, 0, 100)
    (0.0, 1.0)
    """
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (x1 / n1 - x2 / n2) / se
    return z, 0.5 * math.erfc(z / math.sqrt(2))


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's result: recipients sent to and those who engaged."""

    n: int
    x: int

    @property
    def rate(self) -> float:
        return self.x / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    winner: int
    significant: bool
    leader: int
    reason: str
    comparisons: tuple[dict[str, float | int], ...]  # leader vs each other variant: z, p


def pick_winner(
    arms: Sequence[Arm], *, alpha: float = 0.05, min_sample: int = 100, fallback: str = "first"
) -> Verdict:
    """The variant sent to the rest, by the rule in this module's docstring.

    >>> pick_winner([Arm(1000, 50), Arm(1000, 90)]).winner
    1
    >>> v = pick_winner([Arm(1000, 50), Arm(1000, 55)])
    >>> v.winner, v.significant, v.leader
    (0, False, 1)
    >>> pick_winner([Arm(1000, 50), Arm(1000, 55)], fallback="leader").winner
    1
    >>> pick_winner([Arm(50, 5), Arm(50, 40)]).significant
    False
    """
    leader = max(range(len(arms)), key=lambda i: (arms[i].rate, -i))
    level = alpha / len(arms)  # the leader is picked from the data: see the module docstring
    comparisons = []
    for i, arm in enumerate(arms):
        if i == leader:
            continue
        z, p = z_test(arms[leader].x, arms[leader].n, arm.x, arm.n)
        comparisons.append({"variant": i, "z": round(z, 4), "p_value": p})
    small = [i for i, arm in enumerate(arms) if arm.n < min_sample]
    if small:
        reason = f"too few recipients (< {min_sample}) in variant(s) {_letters(small)}"
        significant = False
    elif all(c["p_value"] < level for c in comparisons):
        worst = max(c["p_value"] for c in comparisons)
        reason = (f"variant {_letters([leader])} wins: p = {worst:.4g} < {level:.4g}"
                  " (one-sided two-proportion z-test)")  # fmt: skip
        significant = True
    else:
        worst = max(c["p_value"] for c in comparisons)
        reason = f"no significant winner: p = {worst:.4g} >= {level:.4g}"
        significant = False
    if significant:
        winner = leader
    else:
        winner = leader if fallback == "leader" else 0
        reason += f"; fallback '{fallback}' sends variant {_letters([winner])}"
    return Verdict(winner, significant, leader, reason, tuple(comparisons))


def _letters(indexes: Sequence[int]) -> str:
    """``[0, 2]`` → ``"A, C"``."""
    return ", ".join(chr(ord("A") + i) for i in indexes)


def lift(treated: Arm, held: Arm) -> dict[str, float | None]:
    """Conversion of the treated against the held-out: rates, absolute and relative lift,
    and the one-sided z-test that the treated convert more.

    >>> r = lift(Arm(1000, 80), Arm(1000, 50))
    >>> round(r["absolute_lift"], 3), round(r["relative_lift"], 2), r["p_value"] < 0.01
    (0.03, 0.6, True)
    """
    z, p = z_test(treated.x, treated.n, held.x, held.n)
    absolute = treated.rate - held.rate
    relative = absolute / held.rate if held.rate else None
    return {"treated_rate": treated.rate, "holdout_rate": held.rate, "absolute_lift": absolute,
            "relative_lift": relative, "z": z, "p_value": p}  # fmt: skip
