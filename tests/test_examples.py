"""Every gallery script in examples/ runs (Agg backend) within its 30 s budget."""

import pathlib
import runpy
import time

import pytest

matplotlib = pytest.importorskip("matplotlib")

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = time.perf_counter()
    runpy.run_path(str(path), run_name="__main__")
    seconds = time.perf_counter() - start
    assert plt.get_fignums(), "the example drew no figure"
    plt.close("all")
    # The gallery's budget per example on 2 cores (a budget, not a benchmark).
    assert seconds < 30, f"{path.name} took {seconds:.1f} s"
