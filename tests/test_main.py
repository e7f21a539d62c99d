"""``python -m skgn demo``."""

import subprocess
import sys

from skgn._demo import main, run_demo


def test_demo_table_and_scores():
    lines = []
    rows = run_demo("friedman1", n_samples=400, out=lines.append)
    assert [r["model"].split()[0] for r in rows] == ["skgn", "KernelRidge(kernel='rbf')", "MLPRegressor()"]
    assert len(lines) == 2 + len(rows)
    assert rows[0]["test_r2"] > 0.7
    # Each printed row carries the figures returned for it.
    for line, row in zip(lines[2:], rows):
        assert line.startswith(row["model"])
        assert line.endswith(f"{row['fit_seconds']:>12.2f} {row['test_r2']:>9.4f}")


def test_main_parses_arguments(capsys):
    assert main(["demo", "--dataset", "diabetes"]) == 0
    out = capsys.readouterr().out
    assert "dataset: diabetes" in out and "test R^2" in out


def test_module_entry_point_rejects_unknown_command():
    proc = subprocess.run(
        [sys.executable, "-m", "skgn", "fly"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
