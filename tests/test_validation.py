"""Bad input is refused with a ValueError naming the parameter and its range, in scalars and arrays."""
import numpy as np
import pytest

import asymptotics as A

GOOD = dict(tau=2.0, alpha=1.0, kappa=1.0, rho=0.1, lam=0.0)
BAD = {
    "tau": [0.0, -1.0, np.nan, -np.inf],
    "alpha": [0.0, -0.5, np.nan, np.inf],
    "kappa": [0.0, -2.0, np.nan, -np.inf],
    "rho": [-1e-12, np.nan, np.inf],
    "lam": [-0.1, np.nan, np.inf],
}
CASES = [(name, v) for name, values in BAD.items() for v in values]


@pytest.mark.parametrize("name,value", CASES)
@pytest.mark.parametrize("func", [A.e_icl, A.e_idg, A.solve])
def test_scalar_bad_value(func, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must satisfy .*{name}"):
        func(**{**GOOD, name: value})


@pytest.mark.parametrize("name,value", CASES)
def test_bad_value_inside_array(name, value):
    arr = np.full(7, GOOD[name])
    arr[4] = value
    with pytest.raises(ValueError, match=rf"{name} must satisfy .*1 of 7 entries"):
        A.e_icl(**{**GOOD, name: arr})


def test_non_numeric_and_unbroadcastable():
    with pytest.raises(TypeError, match="alpha must be a real number"):
        A.e_icl(1.0, "many", 1.0, 0.1)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        A.e_icl([1.0, 2.0], [1.0, 2.0, 3.0], 1.0, 0.1)


def test_allowed_edges_are_accepted():
    assert np.isfinite(A.e_icl(np.inf, 1.0, np.inf, 0.0, 0.0))  # tau = kappa = inf, rho = lam = 0
    assert A.e_icl(1.0, 1.0, 1.0, 0.1) == np.inf  # the documented ridgeless peak, not an error


def test_other_entry_points_validate():
    with pytest.raises(ValueError, match="alpha"):
        A.ridge_error(-1.0, 0.1)
    with pytest.raises(ValueError, match="rho"):
        A.optimal_attention_error(1.0, np.nan)
    with pytest.raises(ValueError, match="tau must be finite"):
        A.e_icl_ridgeless(np.inf, 1.0, 1.0, 0.1)
    with pytest.raises(ValueError, match="1 < tau"):
        A.e_idg_ridgeless_above(0.5, 1.0, 1.0, 0.1)


LIMITS = [(A.e_tau_inf, ("alpha", "kappa", "rho", "lam")), (A.e_kappa_inf, ("tau", "alpha", "rho", "lam")),
          (A.optimal_attention_error, ("alpha", "rho")), (A.e_alpha_inf_tau_inf, ("kappa", "rho")),
          (A.interpolation_peak, ("alpha", "kappa", "rho", "lam"))]
LIMIT_CASES = [(f, names, name, v) for f, names in LIMITS for name in names for v in BAD[name]]


@pytest.mark.parametrize("func,names,name,value", LIMIT_CASES,
                         ids=[f"{f.__name__}-{n}={v}" for f, _, n, v in LIMIT_CASES])
def test_limits_refuse_bad_values_naming_the_range(func, names, name, value):
    args = {n: GOOD[n] for n in names}
    with pytest.raises(ValueError, match=rf"^{name} must satisfy .*{name}"):
        func(**{**args, name: value})


def test_limits_name_unbroadcastable_parameters():
    # Before: numpy's bare "shape mismatch" without the parameter names.
    with pytest.raises(ValueError, match=r"cannot be broadcast together: alpha\(2,\), rho\(3,\)"):
        A.optimal_attention_error([1.0, 2.0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"cannot be broadcast together: kappa\(2,\), rho\(3,\)"):
        A.e_alpha_inf_tau_inf([1.0, 2.0], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("kw, name", [({"rtol": -1.0}, "rtol"), ({"rtol": float("nan")}, "rtol"),
                                      ({"rtol": 1.0}, "rtol"), ({"maxiter": 0}, "maxiter"),
                                      ({"maxiter": 2.5}, "maxiter")])
def test_solver_options_are_checked(kw, name):
    with pytest.raises(ValueError, match=name):
        A.solve(0.5, 1.0, 1.0, 0.1, 0.3, **kw)


def test_stieltjes_validates_its_arguments():
    for z in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="^z must satisfy 0 < z < inf"):
            A.marchenko_pastur_m(z, 1.0)
    with pytest.raises(ValueError, match="^kappa must satisfy"):
        A.marchenko_pastur_dm(1.0, [1.0, 0.0])
