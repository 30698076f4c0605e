"""The O(d) sampler against the exact context moments and against the token-level sampler."""
import numpy as np
import pytest

from simulate.sampler import pretraining_tasks, sample_contexts, sample_contexts_tokens

SAMPLERS = [sample_contexts, sample_contexts_tokens]
# ~70 moment comparisons per sampler: 4.5 standard errors keeps the family-wise false-alarm rate
# of a correct sampler below 0.1% (Bonferroni), while a wrong factor 1/l or 2/l is > 10 sem here.
Z = 4.5


def _stats(c, d):
    """Per-context statistics whose means have known exact values, as columns."""
    h, s = c.h[:, :d], c.h[:, d]
    iu = np.triu_indices(d)
    hh = (h[:, :, None] * h[:, None, :])[:, iu[0], iu[1]]
    return np.column_stack([h, hh, s, s * s, s[:, None] * h, c.y_query ** 2,
                            c.x_query * c.y_query[:, None]])


def _exact(w, l, rho):
    """THEORY.md section 3 moments (derived independently in simulate/errors.py's docstring)."""
    d = len(w)
    v = w @ w / d + rho
    ehh = (1 + 1 / l) * np.outer(w, w) + d * v / l * np.eye(d)
    iu = np.triu_indices(d)
    return np.concatenate([w, ehh[iu], [v, (1 + 2 / l) * v * v], (1 + 2 / l) * v * w, [v], w / d])


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("l, rho", [(3, 0.5), (1, 0.5), (4, 0.0)])
def test_moments_exact(sampler, l, rho):
    d, n = 5, 60_000
    w = np.random.default_rng(11).standard_normal(d)
    c = sampler(np.broadcast_to(w, (n, d)), l, rho, np.random.default_rng(12))
    st = _stats(c, d)
    sem = st.std(axis=0, ddof=1) / np.sqrt(n)
    dev = np.abs(st.mean(axis=0) - _exact(w, l, rho))
    assert np.all(dev <= Z * sem), np.max(dev / sem)


def test_fourth_moments_fast_vs_tokens():
    # No closed form used: E|h|^4, E s^4, E (w.h)^2 s and E (x_q^T h)^2 y_q^2 of the two samplers,
    # compared as two independent samples (difference within Z combined standard errors).
    d, l, rho, n = 6, 4, 0.3, 80_000
    W = np.random.default_rng(1).standard_normal((3, d))
    per = W[np.random.default_rng(2).integers(0, 3, n)]
    res = []
    for sampler, seed in ((sample_contexts, 3), (sample_contexts_tokens, 4)):
        c = sampler(per, l, rho, np.random.default_rng(seed))
        h2 = np.sum(c.h ** 2, axis=1)
        s = c.h[:, d]
        f = np.column_stack([h2 ** 2, s ** 4, np.einsum("ij,ij->i", per, c.h[:, :d]) ** 2 * s,
                             (np.einsum("ij,ij->i", c.x_query, c.h[:, :d]) * c.y_query) ** 2])
        res.append((f.mean(axis=0), f.std(axis=0, ddof=1) / np.sqrt(n)))
    (m1, s1), (m2, s2) = res
    assert np.all(np.abs(m1 - m2) <= Z * np.hypot(s1, s2)), (m1, m2, s1)


def test_sampler_reproducible_and_fresh():
    W = np.ones((4, 3))
    a = sample_contexts(W, 2, 0.1, np.random.default_rng(5))
    b = sample_contexts(W, 2, 0.1, np.random.default_rng(5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.h, sample_contexts(W, 2, 0.1, np.random.default_rng(6)).h)


def test_pretraining_tasks():
    rng = np.random.default_rng(0)
    tasks, per = pretraining_tasks(7, 3, 50, rng, normalize=True)
    assert tasks.shape == (3, 7) and per.shape == (50, 7)
    np.testing.assert_allclose(np.linalg.norm(tasks, axis=1), np.sqrt(7), rtol=1e-14)  # rounding only
    assert all(any(np.array_equal(p, t) for t in tasks) for p in per)
    assert len({tuple(p) for p in per}) == 3  # 50 draws from 3 tasks hit all (fails w.p. ~1e-8)
    tasks, per = pretraining_tasks(7, None, 50, rng)
    assert tasks is per and len({tuple(p) for p in per}) == 50
