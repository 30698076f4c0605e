import numpy as np
import pytest

from simulate._seeding import replicate_rng
from simulate._sizes import sizes


def test_sizes_round_half_up():
    assert sizes(40, 2.0, 1.0, 0.5) == (40, 20, 3200)
    assert sizes(10, 0.125, 0.25, 0.05) == (3, 1, 13)  # 2.5 -> 3, 0.5 -> 1, 12.5 -> 13
    assert sizes(40.0, 0.3, 1.0, np.inf) == (40, None, 480)


@pytest.mark.parametrize("args, match", [
    ((1, 1, 1, 1), "d must be an integer >= 2"),
    ((40.5, 1, 1, 1), "d must be an integer >= 2"),
    ((True, 1, 1, 1), "d must be an integer >= 2"),
    ((40, np.inf, 1, 1), "tau = inf .* not simulable"),
    ((40, 1, 0.01, 1), r"alpha\*d = 0.4 rounds to l = 0 tokens; need alpha >= 0.0125"),
    ((40, 1, 1, 0.01), r"kappa\*d = 0.4 rounds to k = 0 tasks"),
    ((40, 1e-4, 1, 1), r"tau\*d\^2 = 0.16 rounds to n = 0 contexts"),
    ((40, -1, 1, 1), r"tau must satisfy 0 < tau <= inf"),
    ((40, 1, np.inf, 1), r"alpha must satisfy 0 < alpha < inf"),
    ((40, 1, 1, np.nan), r"kappa must satisfy"),
    ((40, [1, 2], 1, 1), "scalar"),
])
def test_sizes_refuses_with_reason(args, match):
    with pytest.raises(ValueError, match=match):
        sizes(*args)


def test_replicate_rng_is_the_spawned_stream():
    a = replicate_rng(7, 3).standard_normal(5)
    b = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(3,))).standard_normal(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, replicate_rng(7, 4).standard_normal(5))
    assert not np.array_equal(a, replicate_rng(8, 3).standard_normal(5))
