"""Sketches: the Kronecker fast path against the dense matrix, and embedding quality."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skgn._sketching import SKETCHES, khatri_rao_rows


@pytest.mark.parametrize("name", sorted(SKETCHES))
def test_kron_fast_path_matches_dense_matrix(name):
    rng = np.random.default_rng(0)
    m, d, n, s = 12, 5, 9, 40
    U, V = rng.standard_normal((n, m)), rng.standard_normal((n, d))
    S = SKETCHES[name](s, random_state=0).draw((m, d))
    dense = S.toarray()
    assert dense.shape == (s, m * d)
    assert_allclose(S.sketch_kron(U, V), dense @ khatri_rao_rows(U, V).T, rtol=1e-10, atol=1e-12)
    A = rng.standard_normal((m * d, 3))
    assert_allclose(S.matmat(A), dense @ A, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SKETCHES))
def test_same_seed_same_sketch_and_blocks_do_not_matter(name):
    rng = np.random.default_rng(1)
    # More columns and rows than one block (512) so that block splitting is exercised.
    m, d, n, s = 40, 30, 700, 600
    U, V = rng.standard_normal((n, m)), rng.standard_normal((n, d))
    spec = SKETCHES[name]
    Y1 = spec(s, random_state=3).draw((m, d)).sketch_kron(U, V)
    Y2 = spec(s, random_state=3, n_jobs=2).draw((m, d)).sketch_kron(U, V)
    Y3 = spec(s, random_state=4).draw((m, d)).sketch_kron(U, V)
    assert_allclose(Y1, Y2, rtol=1e-12, atol=1e-12)
    assert not np.allclose(Y1, Y3)


@pytest.mark.parametrize("name", sorted(SKETCHES))
def test_norms_are_preserved_in_expectation(name):
    rng = np.random.default_rng(2)
    m, d, n = 64, 8, 50
    U, V = rng.standard_normal((n, m)), rng.standard_normal((n, d))
    Y = SKETCHES[name](256, random_state=0).draw((m, d)).sketch_kron(U, V)
    ratio = np.sum(Y**2, axis=0) / np.sum(khatri_rao_rows(U, V) ** 2, axis=1)
    assert abs(ratio.mean() - 1) < 0.1


def test_too_many_components_rejected():
    with pytest.raises(ValueError, match="exceeds the dimension"):
        SKETCHES["srht"](100, random_state=0).draw((5, 4))
    with pytest.raises(ValueError, match="positive integer"):
        SKETCHES["gaussian"](0).draw((5, 4))
