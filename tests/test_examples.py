"""Every gallery script in examples/ runs as a script and draws a figure.

How long they take is the gallery's business (sphinx-gallery reports it), not a test's:
a busy CI machine must not fail this file.
"""

import pathlib
import runpy

import pytest

matplotlib = pytest.importorskip("matplotlib")

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    # The scripts call plt.show(); with the non-interactive backend it returns at once.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runpy.run_path(str(path), run_name="__main__")
    assert plt.get_fignums(), "the example drew no figure"
    plt.close("all")
