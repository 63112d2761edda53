"""The winner rule keeps its promise: under equal rates it declares a winner about as
often as alpha allows (simulated), and it finds a real difference of the size campaigns see."""

from __future__ import annotations

import math

import numpy as np

from retenta.campaigns.assign import Plan, assign, draw
from retenta.campaigns.stats import Arm, pick_winner, z_test


def test_false_winners_stay_within_alpha() -> None:
    rng = np.random.default_rng(7)
    trials, n = 4000, 1000
    clicks = rng.binomial(n, 0.05, size=(trials, 2))
    wins = sum(pick_winner([Arm(n, int(a)), Arm(n, int(b))]).significant for a, b in clicks)
    # the leader is picked from the data; at alpha/k the rate stays alpha (sd ~0.0034 here)
    assert wins / trials < 0.05 + 4 * math.sqrt(0.05 * 0.95 / trials)


def test_three_variants_keep_alpha_too() -> None:
    rng = np.random.default_rng(11)
    trials, n = 3000, 800
    clicks = rng.binomial(n, 0.04, size=(trials, 3))
    wins = sum(pick_winner([Arm(n, int(x)) for x in row]).significant for row in clicks)
    assert wins / trials < 0.05 + 4 * math.sqrt(0.05 * 0.95 / trials)


def test_a_real_difference_is_found() -> None:
    rng = np.random.default_rng(3)
    trials, n = 500, 2000
    a, b = rng.binomial(n, 0.05, trials), rng.binomial(n, 0.08, trials)
    found = sum(
        pick_winner([Arm(n, int(x)), Arm(n, int(y))]).winner == 1 for x, y in zip(a, b, strict=True)
    )
    assert found / trials > 0.93  # power at 5% vs 8% with 2,000 each: about 0.97


def test_z_test_matches_the_textbook_formula() -> None:
    z, p = z_test(120, 1000, 90, 1000)
    pooled = 210 / 2000
    expected = (0.12 - 0.09) / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert math.isclose(z, expected)
    assert math.isclose(p, 1 - 0.5 * (1 + math.erf(expected / math.sqrt(2))))
    assert z_test(90, 1000, 120, 1000)[1] > 0.5  # one-sided: the other direction is no win


def test_draws_are_uniform_and_the_split_is_even() -> None:
    values = np.array([draw("cmp_x", c) for c in range(20_000)])
    assert abs(values.mean() - 0.5) < 0.01
    assert abs(np.histogram(values, bins=10, range=(0, 1))[0] - 2000).max() < 200
    plan = Plan("cmp_x", 4, holdout_pct=10, sample_pct=40)
    groups = [assign(plan, c) for c in range(20_000)]
    held = sum(g == "holdout" for g, _ in groups)
    per_variant = [sum(v == i for g, v in groups if g == "test") for i in range(4)]
    assert abs(held - 2000) < 200  # 10%
    assert all(abs(k - 1800) < 180 for k in per_variant)  # 40% of the other 90%, / 4
