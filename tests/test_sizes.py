import numpy as np
import pytest

from simulate import point_key, stream
from simulate._sizes import sizes


def test_sizes_round_half_up():
    assert sizes(40, 2.0, 1.0, 0.5) == (40, 20, 3200)
    assert sizes(10, 0.125, 0.25, 0.05) == (3, 1, 13)  # 2.5 -> 3, 0.5 -> 1, 12.5 -> 13
    assert sizes(40.0, 0.3, 1.0, np.inf) == (40, None, 480)


@pytest.mark.parametrize("args, match", [
    ((1, 1, 1, 1), "d must be an integer >= 2"),
    ((40.5, 1, 1, 1), "d must be an integer >= 2"),
    ((40, np.inf, 1, 1), "tau = inf .* not simulable"),
    ((40, 1, 0.01, 1), r"alpha\*d = 0.4 rounds to l = 0 tokens; need alpha >= 0.0125"),
    ((40, 1, 1, 0.01), r"kappa\*d = 0.4 rounds to k = 0 tasks"),
    ((40, 1e-4, 1, 1), r"tau\*d\^2 = 0.16 rounds to n = 0 contexts"),
    ((40, -1, 1, 1), r"tau must satisfy 1e-30 <= tau <= 1e100 or tau = inf"),
    ((40, 1, np.inf, 1), r"alpha must satisfy 1e-30 <= alpha <= 1e100"),
    ((40, 1, 1, np.nan), r"kappa must satisfy"),
    ((40, [1, 2], 1, 1), "scalar"),
])
def test_sizes_refuses_with_reason(args, match):
    with pytest.raises(ValueError, match=match):
        sizes(*args)


@pytest.mark.parametrize("d", [True, "40", np.timedelta64(40, "D")])
def test_sizes_refuses_a_d_that_is_not_a_number(d):
    with pytest.raises(TypeError, match="d must be an integer >= 2"):
        sizes(d, 1, 1, 1)


def test_stream_is_the_documented_seed_sequence():
    point = {"d": 40, "tau": 2.0, "alpha": 1.0}
    a = stream(7, 3, point).standard_normal(5)
    # the convention promised in simulate.seeding's docstring (what saved results rely on)
    want = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(*point_key(point), 3)))
    np.testing.assert_array_equal(a, want.standard_normal(5))
    assert len(point_key(point)) == 4 and all(0 <= w < 2 ** 32 for w in point_key(point))
    assert point_key(point) == point_key(dict(reversed(list(point.items()))))  # order-free
    for other in (stream(7, 4, point), stream(8, 3, point), stream(7, 3, {**point, "tau": 2.5}),
                  stream(7, 3, {**point, "d": 40.0})):
        assert not np.array_equal(a, other.standard_normal(5))
    common = stream(7, 3, point, common=True).standard_normal(5)
    np.testing.assert_array_equal(common, stream(7, 3, {"x": 1.0}, common=True).standard_normal(5))
    np.testing.assert_array_equal(common, np.random.default_rng(
        np.random.SeedSequence(7, spawn_key=(3,))).standard_normal(5))


@pytest.mark.parametrize("args, match", [
    ((7, 3), "needs the point"), ((-1, 0, {"d": 1}), "seed must be"), ((0, -1, {"d": 1}), "replicate must be"),
    ((0, 0, {}), "non-empty mapping"), ((0, 0, {"d": [1]}), "numbers or strings"),
])
def test_stream_refuses_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        stream(*args)
