"""Verbose output, progress bar, early stopping and scikit-learn callbacks."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning

from skgn import SketchedGNRegressor


@pytest.fixture
def data():
    return make_friedman1(n_samples=150, n_features=5, noise=0.5, random_state=0)


def test_verbose_levels(data, capsys):
    SketchedGNRegressor(n_neurons=64, random_state=0, verbose=0).fit(*data)
    assert capsys.readouterr().out == ""
    reg = SketchedGNRegressor(n_neurons=64, random_state=0, verbose=1).fit(*data)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == reg.n_iter_
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"[skgn] step {i:3d}  loss ")
        for word in ("damping", "solver cholesky", "inner", "s"):
            assert word in line
    SketchedGNRegressor(n_neurons=64, random_state=0, verbose=2, solver="cg").fit(*data)
    out = capsys.readouterr().out
    assert "inner residual" in out and "preconditioner" in out


def test_early_stopping_restores_the_best_weights():
    """alpha = 0 on few noisy samples overfits: the validation score peaks, then falls."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (150, 2))
    y = np.sin(3 * X[:, 0]) + 0.5 * rng.standard_normal(150)
    reg = SketchedGNRegressor(n_neurons=2048, alpha=0.0, tol=0.0, max_iter=30,
                              early_stopping=True, validation_fraction=0.25,
                              n_iter_no_change=3, random_state=0).fit(X, y)
    scores = np.array(reg.validation_scores_)
    assert len(scores) == reg.n_iter_ == len(reg.validation_loss_curve_)
    assert reg.converged_
    best = int(np.argmax(scores))
    assert best < len(scores) - 1 and scores[-1] < scores[best]  # it did get worse
    assert reg.best_validation_score_ == scores[best]
    # The fitted weights are those of the best step, not the last.
    assert [h["validation_score"] for h in reg.history_] == list(scores)
    longer = SketchedGNRegressor(n_neurons=2048, alpha=0.0, tol=0.0, max_iter=best + 1,
                                 random_state=0, early_stopping=True,
                                 validation_fraction=0.25, n_iter_no_change=100)
    with pytest.warns(ConvergenceWarning):
        longer.fit(X, y)
    assert_array_equal(reg.weights_, longer.weights_)


def test_early_stopping_off_leaves_attributes_none(data):
    reg = SketchedGNRegressor(n_neurons=32, random_state=0).fit(*data)
    assert reg.validation_scores_ is None and reg.best_validation_score_ is None


@pytest.mark.parametrize("params, match", [
    ({"validation_fraction": 0.0}, "'validation_fraction' parameter must be > 0"),
    ({"validation_fraction": 0.9}, "'validation_fraction' parameter must be <= 0.5"),
    ({"n_iter_no_change": 0}, "'n_iter_no_change' parameter must be >= 1"),
])
def test_early_stopping_parameters(data, params, match):
    with pytest.raises(ValueError, match=match):
        SketchedGNRegressor(early_stopping=True, **params).fit(*data)


def test_progress_bar(data, capsys):
    pytest.importorskip("tqdm")
    reg = SketchedGNRegressor(n_neurons=32, random_state=0, progress_bar=True).fit(*data)
    err = capsys.readouterr().err
    assert "Gauss-Newton" in err and f"{reg.n_iter_}/100" in err


def test_long_steps_report_their_passes_over_the_row_blocks(data, capsys, monkeypatch):
    """With row blocks, a step past PROGRESS_AFTER seconds prints its passes over the rows."""
    from skgn import _monitor

    monkeypatch.setattr(_monitor, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(_monitor, "PROGRESS_EVERY", 0.0)
    X, y = data
    reg = SketchedGNRegressor(n_neurons=32, block_size=40, solver="cg", random_state=0,
                              verbose=1).fit(X, y)
    progress = [line for line in capsys.readouterr().out.splitlines() if "passes" in line]
    assert progress and all(f"over the {len(y)} rows" in line for line in progress)
    # Every step reports, and the passes grow within a step.
    steps = [int(line.split()[2]) for line in progress]
    assert set(steps) == set(range(1, reg.n_iter_ + 1))
    first = [float(line.split("...")[1].split()[0]) for line in progress
             if int(line.split()[2]) == 1]
    assert first == sorted(first) and first[-1] > first[0]
    # Without row blocks (or when silent) nothing is reported inside a step.
    SketchedGNRegressor(n_neurons=32, solver="cg", random_state=0, verbose=1).fit(X, y)
    assert "passes" not in capsys.readouterr().out
    SketchedGNRegressor(n_neurons=32, block_size=40, solver="cg", random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


def test_rows_done_is_throttled_and_feeds_the_bar():
    from skgn._monitor import FitMonitor

    class Bar:
        def __init__(self):
            self.postfix = []

        def set_postfix(self, **kwargs):
            self.postfix.append(kwargs)

    class Context:
        def subcontext(self, **kwargs):
            return self

        def call_on_fit_task_begin(self, **kwargs):
            pass

    lines, bar = [], Bar()
    monitor = FitMonitor(callback_context=Context(), verbose=1, progress=bar,
                         print_fn=lines.append, n_rows=100)
    monitor.step_begin(1, None)
    monitor.rows_done(50)  # within PROGRESS_AFTER of the step's start: silent
    assert lines == [] and bar.postfix == []
    monitor._started -= 60.0
    monitor._reported -= 60.0
    monitor.rows_done(250)
    assert lines == ["[skgn] step   1  ... 3.0 passes over the 100 rows in 60s"]
    assert bar.postfix == [{"passes": "3", "refresh": True}]
    monitor.rows_done(100)  # within PROGRESS_EVERY of the last report: silent
    assert len(lines) == 1


def test_first_step_probe_forwards_every_step_and_probes_once():
    from types import SimpleNamespace

    from skgn._monitor import FirstStepProbe

    class Recorder:
        early_stopping, reports_rows = "early", True

        def __init__(self):
            self.calls = []

        def step_begin(self, step, W):
            self.calls.append(("begin", step))

        def step_end(self, record, W):
            self.calls.append(("end", record.step))
            return False

        def rows_done(self, n_rows):
            self.calls.append(("rows", n_rows))

        def close(self):
            self.calls.append("close")

    for verdict in (False, True):
        inner, probed = Recorder(), []

        def probe(W):
            probed.append(W)
            return verdict

        monitor = FirstStepProbe(inner, probe)
        assert monitor.early_stopping == "early" and monitor.reports_rows
        stops = []
        for step, accepted in [(1, False), (2, True), (3, True)]:
            monitor.step_begin(step, None)
            monitor.rows_done(7)
            stops.append(monitor.step_end(SimpleNamespace(step=step, accepted=accepted),
                                          f"W{step}"))
        monitor.close()
        # Probed once, on the weights of the first accepted step; every step forwarded.
        assert probed == ["W2"]
        assert stops == [False, verdict, False] and monitor.stopped == verdict
        assert inner.calls == [c for s in (1, 2, 3)
                               for c in (("begin", s), ("rows", 7), ("end", s))] + ["close"]


def test_sklearn_callbacks_see_every_step(data):
    callback = pytest.importorskip("sklearn.callback")

    class Recorder:
        def __init__(self, stop_after=None):
            self.events, self.stop_after = [], stop_after

        def setup(self, estimator, context):
            self.events.append("setup")

        def teardown(self, estimator, context):
            self.events.append("teardown")

        def on_fit_task_begin(self, estimator, context, *, fitted_estimator=None, **kw):
            self.events.append(("begin", context.task_name))

        def on_fit_task_end(self, estimator, context, *, fitted_estimator=None, **kw):
            self.events.append(("end", context.task_name))
            if context.task_name == "gauss-newton step":
                self.last_prediction = fitted_estimator.predict(data[0][:3])
                steps = sum(e == ("end", "gauss-newton step") for e in self.events)
                return self.stop_after is not None and steps >= self.stop_after
            return False

    assert isinstance(Recorder(), callback.FitCallback)
    rec = Recorder()
    reg = SketchedGNRegressor(n_neurons=32, random_state=0).set_callbacks(rec).fit(*data)
    steps = [e for e in rec.events if e == ("end", "gauss-newton step")]
    assert len(steps) == reg.n_iter_
    assert rec.events[0] == "setup" and rec.events[-1] == "teardown"
    assert np.allclose(rec.last_prediction, reg.predict(data[0][:3]))
    # A callback that asks to stop ends the fit without a ConvergenceWarning.
    stopper = Recorder(stop_after=2)
    reg = SketchedGNRegressor(n_neurons=32, random_state=0, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.set_callbacks(stopper).fit(*data)
    assert reg.n_iter_ == 2


def test_pandas_input_feature_names_and_set_output(data):
    pd = pytest.importorskip("pandas")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), SketchedGNRegressor(n_neurons=32, random_state=0))
    pipe.set_output(transform="pandas").fit(df, pd.Series(y))
    assert list(pipe[-1].feature_names_in_) == list(df.columns)
    assert pipe.predict(df).shape == (len(y),)
    with pytest.warns(UserWarning, match="feature names"):
        pipe[-1].predict(X)
