"""Exact finite-d test errors against brute-force Monte Carlo with explicit tokens."""
import numpy as np
import pytest
from scipy import stats

from simulate.errors import error_given_tasks, monte_carlo_errors, test_errors as exact_errors
from simulate.sampler import sample_tasks

# Six exact-vs-Monte-Carlo comparisons below (2 + 2 + 2 over the parametrisations), each two-sided:
# Bonferroni at a 0.3% family-wise false-alarm rate; the sems rest on 2e5-4e5 draws, so normal.
Z = stats.norm.isf(0.003 / (2 * 6))  # = 3.48


def _gamma(d, seed):
    rng = np.random.default_rng(seed)
    gam = 0.3 * rng.standard_normal((d, d + 1))
    gam[:, :d] += 0.5 * np.eye(d)
    gam[:, d] = 0.6 * rng.standard_normal(d)  # non-zero last column g exercises every s term
    return gam


@pytest.mark.parametrize("normalize", [False, True])
def test_exact_matches_token_monte_carlo(normalize):
    d, l, rho = 5, 3, 0.3
    gam = _gamma(d, 0)
    tasks = sample_tasks(4, d, np.random.default_rng(1), normalize=normalize)
    e_icl, e_idg = exact_errors(gam, tasks, l, rho, normalize_tasks=normalize)
    mc = monte_carlo_errors(gam, tasks, l, rho, 200_000, np.random.default_rng(2), normalize_tasks=normalize)
    assert abs(e_icl - mc["icl"]) <= Z * mc["icl_sem"]  # exact vs MC: sampling error only
    assert abs(e_idg - mc["idg"]) <= Z * mc["idg_sem"]


@pytest.mark.parametrize("normalize", [False, True])
def test_icl_closed_form_is_the_task_average(normalize):
    # e_ICL (closed form over w) against the exact per-task error averaged over many sampled tasks;
    # the context is integrated exactly, so this isolates the w-average (incl. the 2/d term in E v^2,
    # which shifts e_ICL by 2 (1+2/l) |g|^2 / d^2 = 0.096 here, ~25 sem).
    d, l, rho = 5, 3, 0.3
    gam = _gamma(d, 3)
    W = sample_tasks(400_000, d, np.random.default_rng(4), normalize=normalize)
    per_task = error_given_tasks(gam, W, l, rho)
    e_icl, _ = exact_errors(gam, W[:1], l, rho, normalize_tasks=normalize)
    sem = per_task.std(ddof=1) / np.sqrt(len(per_task))
    assert abs(e_icl - per_task.mean()) <= Z * sem


def test_known_values():
    # Gamma = 0 predicts 0: e = E y_q^2 = |w|^2/d + rho, i.e. 1 + rho for ICL.
    d, l, rho = 4, 2, 0.5
    tasks = np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    e_icl, e_idg = exact_errors(np.zeros((d, d + 1)), tasks, l, rho)
    assert e_icl == pytest.approx(1.5, rel=1e-15)  # exact arithmetic up to rounding
    assert e_idg == pytest.approx(np.mean([5 / 4, 4 / 4]) + rho, rel=1e-15)  # rounding only


@pytest.mark.parametrize("args, match", [
    ((np.zeros((3, 3)), np.zeros((2, 3)), 2, 0.1), r"Gamma must have shape \(d, d\+1\)"),
    ((np.zeros((3, 4)), np.zeros((2, 4)), 2, 0.1), r"tasks must have shape \(k, d\)"),
    ((np.zeros((3, 4)), np.zeros((2, 3)), 0, 0.1), "l must be an integer >= 1"),
    ((np.zeros((3, 4)), np.zeros((2, 3)), 2, -0.1), "rho must satisfy 0 <= rho <= 1e30"),
])
def test_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        exact_errors(*args)
