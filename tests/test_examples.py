"""Every script in examples/ runs (Agg backend)."""

import pathlib
import runpy

import pytest

matplotlib = pytest.importorskip("matplotlib")

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    matplotlib.use("Agg")
    runpy.run_path(str(path), run_name="__main__")
