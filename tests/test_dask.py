"""Fitting from dask arrays on a two-process cluster, against the in-memory operators and fits."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skgn import SketchedGNRegressor
from skgn._network import BlockedReLUJacobian, add_bias_feature

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from skgn._dask import DistributedRows, DistributedTwoLayerReLU  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _data(n=1200, d=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(n)
    return X, y


def _on_workers(client, X, chunk):
    """A dask array whose chunks are computed and held by the workers."""
    return client.persist(da.from_array(X, chunks=(chunk, X.shape[1])))


OPERATOR_CASES = [
    {"k": 1, "weighted": False, "dtype": np.float64, "threshold": 0.0, "block_rows": None},
    {"k": 3, "weighted": True, "dtype": np.float64, "threshold": 0.5, "block_rows": 16},
    {"k": 2, "weighted": True, "dtype": np.float32, "threshold": 0.0, "block_rows": 16},
    # Many outputs: the products go vector by vector (outer_form).
    {"k": 6, "weighted": False, "dtype": np.float32, "threshold": 0.0, "block_rows": 16},
]


@pytest.mark.parametrize("case", OPERATOR_CASES)
def test_distributed_jacobian_matches_the_in_memory_one(client, case):
    """Products, Gram columns, row norms and outputs equal the blocked operator's."""
    n, d, m, k = 90, 4, 24, case["k"]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((m, d + 1))
    signs = rng.choice([-1.0, 1.0], size=(m, k))
    rw = np.sqrt(rng.uniform(0.5, 2.0, n)) if case["weighted"] else None
    rows = DistributedRows.from_dask(_on_workers(client, X, 40), 1.0, True, case["dtype"])
    assert rows.shape == (n, d + 1) and rows.sizes == [40, 40, 10]
    net = DistributedTwoLayerReLU(signs, dtype=case["dtype"], threshold=case["threshold"],
                                  block_rows=case["block_rows"])
    J = net.jacobian(W, rows, row_weights=rw)
    X_tilde = add_bias_feature(X, True).astype(case["dtype"])
    ref = BlockedReLUJacobian(W, X_tilde, signs, row_weights=rw, dtype=case["dtype"],
                              threshold=case["threshold"], block_rows=case["block_rows"] or 40)
    tol = {"rtol": 1e-12, "atol": 1e-12} if case["dtype"] == np.float64 else {
        "rtol": 1e-5, "atol": 1e-5}
    V = rng.standard_normal((J.shape[1], 3))
    Z = rng.standard_normal((J.shape[0], 2))
    assert_allclose(J.matmat(V), ref.matmat(V), **tol)
    assert_allclose(J.rmatmat(Z), ref.rmatmat(Z), **tol)
    # The fused normal product: J^T diag(s^2) J V, each chunk's part on its worker.
    assert_allclose(J.normal_matmat(V), ref.normal_matmat(V), **tol)
    assert_allclose(J.normal_matmat(V), ref.rmatmat(ref.matmat(V)), **tol)
    columns = np.array([5, 0, (k - 1) * n + 47, 5, k * n - 1])
    assert_allclose(J.gram_columns(columns), ref.gram_columns(columns), rtol=1e-12)
    assert_allclose(J.squared_row_norms(), ref.squared_row_norms(), rtol=1e-12)
    assert_allclose(J.gram(), ref.gram(), rtol=1e-12, atol=1e-14)
    assert_allclose(net.predict(W, rows),
                    type(net).__mro__[1](signs, dtype=case["dtype"],
                                         threshold=case["threshold"]).predict(W, X_tilde),
                    **tol)
    # Dot (adjoint) test of the distributed operator itself.
    v, z = rng.standard_normal(J.shape[1]), rng.standard_normal(J.shape[0])
    lhs, rhs = z @ J.matvec(v), J.rmatvec(z) @ v
    assert abs(lhs - rhs) <= (1e-12 if case["dtype"] == np.float64 else 1e-5) * abs(lhs)


def test_fit_from_worker_chunks_matches_the_in_memory_fit(client, monkeypatch):
    """Default path (alpha chosen in fit, the feature map learned from the first step,
    CG + Nystrom): the same fit as in memory.

    1,200 rows and 1,536 = 256 x 6 parameters: the sample-space step.
    """
    import skgn._network

    # Tiles of 256 rows at m = 256: the in-memory fit's tiles are the chunks, so it makes
    # the same BLAS calls and the same sums in the same order.
    monkeypatch.setattr(skgn._network, "_TILE_PAIRS", 256 * 256)
    X, y = _data()
    dX = _on_workers(client, X, 256)
    est = SketchedGNRegressor(n_neurons=256, random_state=0).fit(dX, y)
    ref = SketchedGNRegressor(n_neurons=256, random_state=0, block_size=256).fit(X, y)
    assert {h["solver"] for h in est.history_} == {"cg"}
    assert est.alpha_ == ref.alpha_ and est.n_iter_ == ref.n_iter_
    # agop_rounds='auto' learns the map from the first step on the dask rows as in
    # memory (it keeps it on these data, so both fits start over on X T).
    assert ref.feature_transform_ is not None
    assert_allclose(est.agop_scores_, ref.agop_scores_, rtol=1e-8)
    assert_allclose(est.feature_transform_, ref.feature_transform_, rtol=1e-8)
    # Weights are of order 1; atol covers the few near 0 (under the Haswell OpenBLAS
    # kernel one of 1,536, at -3.8e-5, differs by 2.2e-12).
    assert_allclose(est.weights_, ref.weights_, rtol=1e-8, atol=1e-10)
    pred = est.predict(dX)
    assert isinstance(pred, da.Array) and pred.chunks == ((256, 256, 256, 256, 176),)
    assert_allclose(pred.compute(), ref.predict(X), rtol=1e-8)
    assert_allclose(est.predict(X), ref.predict(X), rtol=1e-8)
    assert_allclose(est.score(dX, y), ref.score(X, y), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("rows, used", [(500, 500), ("auto", 1200)])
def test_sub_sampled_curvature_rows_stay_on_the_workers(client, monkeypatch, rows, used):
    """curvature_rows: the sampled rows are cut from the worker chunks; the same step.

    One step: the sampled rows' products group their sums by chunk on the workers and by
    tile in memory, and the inexact later solves on a reused preconditioner turn that
    rounding into a different iteration count (31 against 32 in the second step). With
    1,200 rows and 768 = 128 x 6 parameters 'auto' solves on every row in parameter
    space (the in-memory fit in one pass per product, the workers in two).
    """
    import skgn._network

    monkeypatch.setattr(skgn._network, "_TILE_PAIRS", 256 * 128)
    X, y = _data()
    kw = {"n_neurons": 128, "random_state": 0, "curvature_rows": rows, "n_landmarks": 80,
          "max_iter": 1}
    est = SketchedGNRegressor(**kw).fit(_on_workers(client, X, 256), y)
    ref = SketchedGNRegressor(block_size=256, **kw).fit(X, y)
    assert est.curvature_rows_ == used and est.history_[0]["solver"] == "parameter_cg"
    assert est.history_[0]["inner_iterations"] == ref.history_[0]["inner_iterations"]
    # Predictions are of order 1; atol covers the few near 0 (under the Haswell OpenBLAS
    # kernel one of 1,200, at -2.3e-4, differs by 2.5e-12).
    assert_allclose(est.predict(X), ref.predict(X), rtol=1e-8, atol=1e-10)


def test_exact_steps_match_the_unblocked_fit(client):
    """Cholesky steps: the chunked sums differ from one block's only by rounding."""
    X, y = _data(n=600, seed=1)
    y2 = np.c_[y, X[:, 3] ** 2]
    kw = {"n_neurons": 64, "solver": "cholesky", "random_state": 0, "dtype": "float64"}
    sw = np.random.RandomState(2).uniform(0.5, 2.0, len(y))
    est = SketchedGNRegressor(**kw).fit(_on_workers(client, X, 250), y2, sample_weight=sw)
    ref = SketchedGNRegressor(**kw).fit(X, y2, sample_weight=sw)
    assert_allclose(est.predict(X), ref.predict(X), rtol=1e-8)
    assert est.predict(_on_workers(client, X, 250)).shape == (600, 2)


def test_feature_scaling_from_the_workers_is_the_in_memory_one(client):
    """The columns' weighted moments reduced on the workers give the in-memory map;
    the fit stores it and predicts through it."""
    from skgn._dask import column_moments
    from skgn._fit_state import feature_scaling

    X, y = _data(n=700)
    rng = np.random.RandomState(1)
    X = np.c_[X * 40.0 + 3.0, rng.randint(0, 2, len(X))]
    w = rng.uniform(0.5, 2.0, len(X))
    dX = _on_workers(client, X, 256)
    for weights in (None, w):
        want = feature_scaling(X, weights, True)
        got = feature_scaling(dX, weights, True, column_moments(dX, weights))
        for g, e in zip(got, want):
            assert_allclose(g, e, rtol=1e-13)
    assert want[0][-1] == 0.0 and want[1][-1] == 1.0
    est = SketchedGNRegressor(n_neurons=32, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(dX, y)
    assert_allclose(est.X_mean_, feature_scaling(X, None, True)[0], rtol=1e-13)
    assert_allclose(est.predict(dX).compute(), est.predict(X), rtol=1e-12)


def test_agop_rounds_learn_the_in_memory_map(client, monkeypatch):
    """agop_rounds=1 from dask rows: the one-step fit (itself on dask rows), the map
    and the fit on the mapped chunks are the in-memory ones."""
    import skgn._network

    # Tiles of 256 rows at m = 64, the chunks' size: the same BLAS calls as in memory.
    monkeypatch.setattr(skgn._network, "_TILE_PAIRS", 256 * 64)
    X, y = _data(n=768)
    kw = {"n_neurons": 64, "random_state": 0, "agop_rounds": 1}
    est = SketchedGNRegressor(**kw).fit(_on_workers(client, X, 256), y)
    ref = SketchedGNRegressor(block_size=256, **kw).fit(X, y)
    assert not np.allclose(ref.feature_transform_, np.eye(X.shape[1]))
    assert_allclose(est.feature_transform_, ref.feature_transform_, rtol=1e-8)
    # The inexact parameter-space steps carry the dask sums' other rounding into the
    # weights (3.9e-8 relative once the reused preconditioner takes more iterations).
    assert_allclose(est.predict(X), ref.predict(X), rtol=1e-6)


def test_dataframe_input_records_feature_names(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _data(n=500)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    dframe = client.persist(dd.from_pandas(frame, npartitions=2))
    # 500 rows and 768 = 128 x 6 parameters: the sample-space step, exact so that the
    # dask sums' other rounding is not amplified by an inexact inner solve.
    est = SketchedGNRegressor(n_neurons=128, solver="cholesky", random_state=0)
    est.fit(dframe, dd.from_array(y))
    assert list(est.feature_names_in_) == list(frame.columns)
    ref = SketchedGNRegressor(n_neurons=128, solver="cholesky", random_state=0).fit(frame, y)
    assert_allclose(est.predict(dframe).compute(), ref.predict(frame), rtol=1e-6)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(dframe[list(frame.columns[::-1])])


def test_bad_dask_input_gets_clear_errors(client):
    X, y = _data(n=200)
    bad = X.copy()
    bad[17, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        SketchedGNRegressor(n_neurons=16).fit(_on_workers(client, bad, 100), y)
    with pytest.raises(ValueError, match="same number of samples"):
        SketchedGNRegressor(n_neurons=16).fit(_on_workers(client, X, 100), y[:-1])
    with pytest.raises(ValueError, match="2D dask array"):
        SketchedGNRegressor(n_neurons=16).fit(da.from_array(X[:, 0]), y)
    with pytest.raises(ValueError, match="early_stopping=True"):
        SketchedGNRegressor(n_neurons=16, early_stopping=True).fit(
            _on_workers(client, X, 100), y)
    with pytest.raises(ValueError, match="depth=2"):
        SketchedGNRegressor(n_neurons=16, depth=2).fit(_on_workers(client, X, 100), y)
    est = SketchedGNRegressor(n_neurons=16, random_state=0).fit(_on_workers(client, X, 100), y)
    with pytest.raises(ValueError, match="expecting 5 features"):
        est.predict(_on_workers(client, X[:, :4], 100))


def test_no_client_names_how_to_start_one(monkeypatch):
    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", no_client)
    X, y = _data(n=100)
    with pytest.raises(ValueError, match="Client"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            SketchedGNRegressor(n_neurons=16).fit(da.from_array(X, chunks=50), y)
